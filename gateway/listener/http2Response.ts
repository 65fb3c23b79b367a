import type { OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';

/**
 * Headers that describe an HTTP/1.1 connection and are malformed in HTTP/2 (RFC 9113 §8.2.2):
 * Node throws ERR_HTTP2_INVALID_CONNECTION_HEADERS when one reaches an HTTP/2 answer.
 */
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'te',
]);

/**
 * Headers HTTP/2 takes once (node:http2's list): an upstream that sends one twice (an app and its
 * middleware both adding X-Content-Type-Options) would make Node refuse the whole answer. The
 * first is kept, as a browser reading the HTTP/1.1 answer would use it.
 */
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials',
  'access-control-max-age',
  'access-control-request-method',
  'age',
  'authorization',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-md5',
  'content-range',
  'content-type',
  'date',
  'dnt',
  'etag',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  // Not location: browsers refuse an answer with two (ERR_RESPONSE_HEADERS_MULTIPLE_LOCATION), so
  // it stays an answer Node refuses too (a 502).
  'max-forwards',
  'proxy-authorization',
  'range',
  'referer',
  'retry-after',
  'tk',
  'upgrade-insecure-requests',
  'user-agent',
  'x-content-type-options',
]);

type HeaderList = OutgoingHttpHeaders | readonly OutgoingHttpHeader[] | readonly (readonly string[])[];

/**
 * The class of answers to HTTP/2 requests (the TLS listener's `Http2ServerResponse` option), made
 * from node:http2's own, which the listener asks for only when it offers HTTP/2 (this module
 * imports nothing of node:http2 but its types). Everything that writes an answer (the forwarding stage, Portico's pages
 * and redirects, the branding injector, express) was written for HTTP/1.1, so the HTTP/1.1-only
 * parts are dropped here, in one place, instead of at every `writeHead`: connection-specific
 * headers (an upstream's `Keep-Alive` would otherwise cut the stream) and status messages (HTTP/2
 * has none; Node warns on each).
 */
export function http2ResponseClass(Base: typeof Http2ServerResponse): typeof Http2ServerResponse {
  class Http2Response extends Base {
    // biome-ignore lint/suspicious/noExplicitAny: node:http2's constructor, passed on as it is.
    constructor(...args: any[]) {
      // @ts-expect-error -- the constructor is not in node:http2's public types.
      super(...args);
      // Answered before the client finished its upload (a 403, a 413, an upstream that did not
      // read it): the stream would stay half open, holding one of the connection's streams, for as
      // long as the client takes. RFC 9113 §8.1: end it with RST_STREAM(NO_ERROR), the answer kept.
      // (The stream's own 'finish', once its END_STREAM is out: the compatibility layer emits
      // the answer's 'finish' only when the stream closes.)
      this.stream.once('finish', () => {
        const stream = this.stream;
        if (!stream.closed && !stream.endAfterHeaders && !stream.readableEnded && !this.req.complete)
          stream.close(0);
      });
    }

    override setHeader(name: string, value: number | string | readonly string[]): void {
      if (!CONNECTION_SPECIFIC.has(name.toLowerCase())) super.setHeader(name, value);
    }

    override appendHeader(name: string, value: string | string[]): void {
      if (!CONNECTION_SPECIFIC.has(name.toLowerCase())) super.appendHeader(name, value);
    }

    override writeHead(
      statusCode: number,
      statusMessageOrHeaders?: string | HeaderList,
      headers?: HeaderList,
    ): this {
      const list = typeof statusMessageOrHeaders === 'string' ? headers : statusMessageOrHeaders;
      return list === undefined
        ? super.writeHead(statusCode)
        : super.writeHead(statusCode, withoutConnectionHeaders(list) as OutgoingHttpHeaders);
    }
  }
  // HTTP/2 carries no reason phrase: setting one (express's final handler does) is ignored, not warned about.
  Object.defineProperty(Http2Response.prototype, 'statusMessage', {
    get: () => '',
    set: () => {},
  });
  return Http2Response as typeof Http2ServerResponse;
}

/**
 * A header object, flat list or list of pairs, as `writeHead` takes them, less connection headers;
 * in a flat list (an upstream's headers) a single-value header only once.
 */
function withoutConnectionHeaders(list: HeaderList): HeaderList {
  if (!Array.isArray(list)) {
    const out: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(list))
      if (!CONNECTION_SPECIFIC.has(name.toLowerCase())) out[name] = value;
    return out;
  }
  if (list.length > 0 && Array.isArray(list[0]))
    return (list as readonly (readonly string[])[]).filter(
      (pair) => !CONNECTION_SPECIFIC.has(pair[0]!.toLowerCase()),
    );
  const out: OutgoingHttpHeader[] = [];
  let seen: Set<string> | undefined;
  for (let i = 0; i < list.length; i += 2) {
    const lower = String(list[i]).toLowerCase();
    if (CONNECTION_SPECIFIC.has(lower)) continue;
    if (SINGLE_VALUE.has(lower)) {
      seen ??= new Set();
      if (seen.has(lower)) continue;
      seen.add(lower);
    }
    out.push(list[i]!, list[i + 1]!);
  }
  return out;
}
