import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export type RawResponse = {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
};

/**
 * An HTTP request whose target is sent exactly as given (fetch would normalise `..`, `%2e` and
 * `//`, which is what the security tests need to send).
 */
export function send(
  base: string,
  target: string,
  options: {
    method?: string;
    headers?: OutgoingHttpHeaders | string[];
    body?: string | Buffer;
    rejectUnauthorized?: boolean;
    /** The CA that signed an https server's certificate (test/helpers/certs.ts). */
    ca?: string | Buffer;
    /** The client's own address, e.g. 127.0.0.2 to be a peer that trustProxy does not list. */
    localAddress?: string;
  } = {},
): Promise<RawResponse> {
  const url = new URL(base);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  let headers = options.headers;
  if (Array.isArray(headers) && !headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'host')) {
    // Node adds Host only for object headers; a raw header list must carry its own.
    headers = [...headers, 'Host', url.host];
  }
  if (
    options.body !== undefined &&
    headers !== undefined &&
    !Array.isArray(headers) &&
    headers['content-length'] === undefined &&
    headers['transfer-encoding'] === undefined
  ) {
    // Node frames DELETE/OPTIONS bodies only when told their length.
    headers = { ...headers, 'content-length': Buffer.byteLength(options.body) };
  }
  return new Promise((resolve, reject) => {
    const req = request({
      hostname: url.hostname,
      port: url.port,
      method: options.method ?? 'GET',
      path: target,
      headers: headers as OutgoingHttpHeaders,
      agent: false,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
      ca: options.ca,
      localAddress: options.localAddress,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode!,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body,
          text: body.toString(),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export function json<T = Record<string, unknown>>(r: RawResponse): T {
  return JSON.parse(r.text) as T;
}
