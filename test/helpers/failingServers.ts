import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';

export { deadPort } from './ports.ts';

export type ResettingServer = {
  url: string;
  /** Connections accepted (and reset) so far. */
  connections: number;
  close(): Promise<void>;
};

/**
 * A server that accepts TCP connections and resets each one once the request's first bytes have
 * arrived, before any answer: a connection failure a test can count, unlike a refused port, and
 * one that happens after the request was sent (a reset before it would let nginx resend a POST,
 * depending on how far its write had got).
 */
export async function startResettingServer(): Promise<ResettingServer> {
  const open = new Set<Socket>();
  const state: ResettingServer = { url: '', connections: 0, close: async () => {} };
  const server = createServer((socket) => {
    state.connections++;
    open.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => open.delete(socket));
    socket.once('data', () => socket.resetAndDestroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    });
  return state;
}
