import { STATUS_CODES } from 'node:http';
import type { UpgradeContext } from '../context.ts';
import type { GatewayError } from '../errors.ts';

/** Answers an upgrade request with a plain HTTP error (there is no ServerResponse for upgrades). */
export function rejectUpgrade(ctx: UpgradeContext, err: GatewayError): void {
  const { socket } = ctx;
  if (socket.destroyed) return;
  const body = JSON.stringify({
    error: err.code,
    status: err.status,
    message: err.expose && err.detail ? `${err.message} ${err.detail}` : err.message,
    requestId: ctx.requestId,
    ...err.extra,
  });
  socket.end(
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${ctx.requestId}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
