import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { WebSocketServer } from 'ws';

/**
 * An upstream that holds every answer until `release()`. `held` is what it holds now, `received()`
 * counts every request it got, `arrived(n)` resolves once it holds n at once. WebSocket upgrades
 * are accepted and their messages echoed (a tunnel holds its connection as long as it is open).
 */
export async function holdingUpstream(t: Pick<TestContext, 'after'>) {
  const held: ServerResponse[] = [];
  let received = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = createServer((_req, res) => {
    received++;
    held.push(res);
    for (const w of waiters.filter((w) => held.length >= w.n)) w.resolve();
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const c of wss.clients) c.terminate();
    server.closeAllConnections();
    server.close();
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    held,
    received: () => received,
    arrived: (n: number) =>
      held.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
    release() {
      for (const res of held.splice(0)) res.end('done');
    },
  };
}
