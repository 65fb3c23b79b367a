import {
  connect,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
} from 'node:http2';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';

export type Http2Answer = {
  status: number;
  headers: IncomingHttpHeaders & IncomingHttpStatusHeader;
  body: Buffer;
  text: string;
  /** What ALPN settled on for the connection. */
  alpn: string | false | null;
};

/**
 * One request over a new HTTP/2 connection (node:http2, ALPN `h2`), the connection closed after.
 * `body` may be a stream: it is sent as DATA frames without a Content-Length.
 */
export function http2Request(
  origin: string,
  path: string,
  o: { ca: Buffer; method?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer | Readable },
): Promise<Http2Answer> {
  return new Promise((resolve, reject) => {
    const session = connect(origin, { ca: o.ca });
    session.on('error', reject);
    const hasBody = o.body !== undefined;
    const stream = session.request(
      { ':method': o.method ?? (hasBody ? 'POST' : 'GET'), ':path': path, ...o.headers },
      { endStream: !hasBody },
    );
    let headers: Http2Answer['headers'] | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', (err) => {
      session.close();
      reject(err);
    });
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const alpn = (session.socket as TLSSocket).alpnProtocol;
      session.close();
      if (!headers) return reject(new Error('the stream ended without a response'));
      resolve({ status: Number(headers[':status']), headers, body, text: body.toString(), alpn });
    });
    if (typeof o.body === 'string' || Buffer.isBuffer(o.body)) stream.end(o.body);
    else if (o.body) o.body.pipe(stream);
  });
}
