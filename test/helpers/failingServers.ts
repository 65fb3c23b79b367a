import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';

/** A loopback port nothing listens on: connecting to it is refused. */
export async function deadPort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export type ResettingServer = {
  url: string;
  /** Connections accepted (and reset) so far. */
  connections: number;
  close(): Promise<void>;
};

/**
 * A server that accepts TCP connections and resets each one before any answer: a connection
 * failure a test can count, unlike a refused port.
 */
export async function startResettingServer(): Promise<ResettingServer> {
  const open = new Set<Socket>();
  const state: ResettingServer = { url: '', connections: 0, close: async () => {} };
  const server = createServer((socket) => {
    state.connections++;
    open.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => open.delete(socket));
    socket.resetAndDestroy();
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
