import { Http2ServerRequest } from 'node:http2';
import type { Express } from 'express';
import { Http2Response } from '../listener/http2Response.ts';

/**
 * An express app that serves HTTP/2 requests. express gives every request and answer its own
 * prototype (`app.request`, `app.response`, built over http.IncomingMessage and ServerResponse),
 * which would hide the getters an HTTP/2 compatibility object reads its URL, method and headers
 * through. Here the same methods sit over Http2ServerRequest and Http2Response instead, so
 * `req.get`, `res.json`, `res.cookie`, `res.redirect` work unchanged. An app serves one kind: the
 * gateway keeps one app for each and picks by the request's HTTP version.
 */
export function overHttp2(app: Express): Express {
  const request = Object.getPrototypeOf(app.request) as object;
  const response = Object.getPrototypeOf(app.response) as object;
  Object.setPrototypeOf(
    app.request,
    Object.create(Http2ServerRequest.prototype, Object.getOwnPropertyDescriptors(request)),
  );
  Object.setPrototypeOf(
    app.response,
    Object.create(Http2Response.prototype, Object.getOwnPropertyDescriptors(response)),
  );
  return app;
}
