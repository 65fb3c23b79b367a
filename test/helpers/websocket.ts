import { type ClientOptions, WebSocket } from 'ws';

/**
 * Opens a WebSocket to `url` and answers with the status the gateway gave the upgrade: 101 when it
 * opened (the socket is closed again at once), otherwise the refusal's status.
 */
export function upgradeStatus(url: string, options: ClientOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    ws.once('error', reject);
  });
}

/** The ws:// form of an http:// base URL, with `path` appended. */
export function wsUrl(base: string, path: string): string {
  return base.replace(/^http/, 'ws') + path;
}
