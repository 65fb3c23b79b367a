import type { Express } from 'express';

/**
 * An express app that serves HTTP/2 requests. express gives every request and answer its own
 * prototype (`app.request`, `app.response`, built over http.IncomingMessage and ServerResponse),
 * which would hide the getters an HTTP/2 compatibility object reads its URL, method and headers
 * through. Here the same methods sit over the prototypes of an HTTP/2 request and its answer
 * (Node's Http2ServerRequest, the listener's answer class) instead, so `req.get`, `res.json`,
 * `res.cookie`, `res.redirect` work unchanged. An app serves one kind: the gateway keeps one app
 * for each and picks by the request's HTTP version.
 */
export function overHttp2(app: Express, requestPrototype: object, responsePrototype: object): Express {
  const request = Object.getPrototypeOf(app.request) as object;
  const response = Object.getPrototypeOf(app.response) as object;
  Object.setPrototypeOf(
    app.request,
    Object.create(requestPrototype, Object.getOwnPropertyDescriptors(request)),
  );
  Object.setPrototypeOf(
    app.response,
    Object.create(responsePrototype, Object.getOwnPropertyDescriptors(response)),
  );
  return app;
}
