import type { WebSocket } from 'ws';

/**
 * How an upgrade was answered: 101 once the WebSocket opened (it is then closed), else the status
 * of the refusal. Either way the test learns at once, instead of waiting for an event that a
 * regression would never send.
 */
export function upgradeStatus(ws: WebSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once('error', reject);
  });
}
