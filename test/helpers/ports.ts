import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';

/** Below Linux's ephemeral range (32768–60999), where listen(0) and outgoing connections take ports. */
const LOW = 20000;
const HIGH = 32767;

/**
 * A port for a process that must know its address before it listens (a gateway whose publicUrl is
 * in its config and in its IdP's redirect URIs; nginx). Port 0 handed out by the kernel would be
 * taken back by the next outgoing connection or listen(0) of a test running beside it, so the
 * port is drawn at random from below the ephemeral range and checked free by binding it.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port found between ${LOW} and ${HIGH} in 50 tries`);
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port nothing listens on (bound once by listen(0), then released): an upstream that refuses. */
export async function deadPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
