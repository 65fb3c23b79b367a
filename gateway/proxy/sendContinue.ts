import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * `Expect: 100-continue` is answered by whoever reads the body (server.ts takes Node's automatic
 * answer away): a request refused before that — 401, 403, 413 — gets its final status instead,
 * and the client never sends a body nobody will read.
 */
export function sendContinue(req: IncomingMessage, res: ServerResponse): void {
  const expect = req.headers.expect;
  if (expect !== undefined && !res.headersSent && expect.toLowerCase() === '100-continue')
    res.writeContinue();
}
