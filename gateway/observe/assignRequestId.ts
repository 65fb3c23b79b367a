import { randomUUID } from 'node:crypto';
import type { RequestContext, Stage } from '../context.ts';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a well-formed X-Request-Id from the client or a trusted proxy, otherwise makes one. */
export function assignRequestId(): Stage<RequestContext> {
  return (ctx) => {
    const given = ctx.req.headers['x-request-id'];
    ctx.requestId = typeof given === 'string' && SAFE_ID.test(given) ? given : randomUUID();
  };
}
