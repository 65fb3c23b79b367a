// Runs a peer proxy as one process, or as N processes on one port the way `portico serve
// --workers N` does: node:cluster forks the workers and each listens itself with SO_REUSEPORT, so
// the kernel spreads connections and the primary only supervises.
import cluster from 'node:cluster';
import type { Server } from 'node:http';

export async function serveWorkers(
  workers: number,
  start: () => Promise<Server>,
  port: number,
): Promise<void> {
  if (workers > 1 && cluster.isPrimary) {
    for (let i = 0; i < workers; i++) cluster.fork();
    process.on('SIGTERM', () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      process.exit(0);
    });
    return;
  }
  const server = await start();
  server.keepAliveTimeout = 65_000;
  server.listen({ port, host: '127.0.0.1', reusePort: workers > 1 });
  process.on('SIGTERM', () => process.exit(0));
}
