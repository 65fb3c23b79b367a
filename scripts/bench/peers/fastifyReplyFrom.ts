// The fastify peer, set up the way a user would: @fastify/reply-from (undici pool, keep-alive)
// to one upstream, /dce5/ stripped, X-Forwarded-For added; no auth, no logging.
// Usage: node fastifyReplyFrom.ts UPSTREAM PORT [WORKERS]
import { createServer } from 'node:http';
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';
import { serveWorkers } from './serveWorkers.ts';

const [upstream, port, workers] = process.argv.slice(2);

await serveWorkers(
  Number(workers ?? 1),
  async () => {
    let server: ReturnType<typeof createServer> | undefined;
    const app = Fastify({
      logger: false,
      serverFactory: (handler) => (server = createServer(handler)),
    });
    // A proxy passes bodies through untouched.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    await app.register(replyFrom, {
      base: upstream!,
      undici: { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 },
    });
    app.all('/dce5/*', (req, reply) =>
      reply.from(req.url.slice('/dce5'.length), {
        rewriteRequestHeaders: (r, headers) => {
          const prior = headers['x-forwarded-for'];
          const ip = r.socket.remoteAddress ?? '';
          return { ...headers, 'x-forwarded-for': prior ? `${prior}, ${ip}` : ip };
        },
      }),
    );
    await app.ready();
    return server!;
  },
  Number(port),
);
