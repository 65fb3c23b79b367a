import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** One HTTP/1.x response read off the wire (framed by Content-Length, chunked, or the close). */
export type WireResponse = {
  status: number;
  /** Lower-cased names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** Every header line as sent (name, value), repeated ones (Set-Cookie) kept apart. */
  rawHeaders: [string, string][];
  body: Buffer;
};

/**
 * A TCP connection that writes exactly the bytes it is given, for what an HTTP client library
 * would refuse to send: conflicting framing headers, obs-fold, bare LF, a request line sent one
 * byte at a time. Everything received is kept and parsed into responses on demand.
 */
export class RawConnection {
  readonly socket: Socket;
  readonly openedAt = performance.now();
  /** When the peer closed (or the socket died), in performance.now() time. */
  closedAt: number | undefined;
  private readonly chunks: Buffer[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closedAt = performance.now();
      this.wake();
    });
  }

  /** Connects to the host and port of `base` (an http:// URL). */
  static open(base: string): Promise<RawConnection> {
    const url = new URL(base);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: url.hostname, port: Number(url.port) });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  /** Writes bytes; a write to a socket the peer already closed is ignored (the test looks at what came back). */
  write(data: string | Buffer): Promise<void> {
    if (this.socket.destroyed || !this.socket.writable) return Promise.resolve();
    return new Promise((resolve) => this.socket.write(data, () => resolve()));
  }

  /**
   * Sends `data` `chunkSize` bytes at a time with `delayMs` between writes, stopping early when the
   * peer closes or `maxMs` have passed. Returns how many bytes went out.
   */
  async trickle(
    data: string | Buffer,
    delayMs: number,
    chunkSize = 1,
    maxMs = Number.POSITIVE_INFINITY,
  ): Promise<number> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    const deadline = performance.now() + maxMs;
    let sent = 0;
    while (sent < bytes.length && !this.closed && performance.now() < deadline) {
      await this.write(bytes.subarray(sent, sent + chunkSize));
      sent = Math.min(bytes.length, sent + chunkSize);
      if (sent < bytes.length) await this.waitForClose(delayMs);
    }
    return sent;
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  text(): string {
    return this.received().toString('latin1');
  }

  responses(): WireResponse[] {
    return parseResponses(this.received());
  }

  /** True once the peer has closed; false when `timeoutMs` passed first. */
  async waitForClose(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await this.next(left);
    }
    return true;
  }

  /**
   * Waits until `count` complete responses arrived or the connection closed, then `settleMs` more
   * for anything extra (a smuggled second answer), or until `timeoutMs` in all.
   */
  async waitForResponses(count: number, timeoutMs: number, settleMs = 150): Promise<WireResponse[]> {
    const deadline = performance.now() + timeoutMs;
    while (!this.closed && this.responses().length < count) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      await this.next(left);
    }
    if (!this.closed && settleMs > 0)
      await this.waitForClose(Math.min(settleMs, deadline - performance.now()));
    return this.responses();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private next(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

export type Exchange = {
  responses: WireResponse[];
  /** The gateway closed the connection within the wait. */
  closed: boolean;
  raw: string;
};

/**
 * Opens a connection, writes `data` as it is, and collects what comes back: up to `expect`
 * responses (then a short settle for extra ones) or until the gateway closes, within `timeoutMs`.
 */
export async function exchange(
  base: string,
  data: string | Buffer | (string | Buffer)[],
  options: { expect?: number; timeoutMs?: number; settleMs?: number; gapMs?: number } = {},
): Promise<Exchange> {
  const conn = await RawConnection.open(base);
  try {
    const parts = Array.isArray(data) ? data : [data];
    for (const [i, part] of parts.entries()) {
      // The caller asked for a pause between parts (a slow client): that pause is the point.
      if (i > 0 && options.gapMs) await sleep(options.gapMs);
      await conn.write(typeof part === 'string' ? Buffer.from(part, 'latin1') : part);
    }
    const responses = await conn.waitForResponses(
      options.expect ?? 1,
      options.timeoutMs ?? 3000,
      options.settleMs ?? 150,
    );
    return { responses, closed: conn.closed, raw: conn.text() };
  } finally {
    conn.destroy();
  }
}

/** Parses as many complete responses as `buf` holds; an unfinished one at the end is left out. */
export function parseResponses(buf: Buffer): WireResponse[] {
  const out: WireResponse[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const end = buf.indexOf('\r\n\r\n', pos);
    if (end === -1) break;
    const head = buf.subarray(pos, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
    if (!m) break;
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    const rawHeaders: [string, string][] = [];
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      rawHeaders.push([line.slice(0, colon).trim(), value]);
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let bodyStart = end + 4;
    let body: Buffer;
    if (status === 101 || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
      if (status === 101) {
        out.push({ status, headers, rawHeaders, body });
        break; // the rest is another protocol
      }
    } else if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      let p = bodyStart;
      let complete = false;
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', p);
        if (lineEnd === -1) break;
        const size = Number.parseInt(buf.subarray(p, lineEnd).toString('latin1'), 16);
        if (Number.isNaN(size)) break;
        if (size === 0) {
          // `0\r\n`, any trailer lines, then an empty line.
          const trailerEnd = buf.indexOf('\r\n\r\n', lineEnd);
          if (trailerEnd === -1) break;
          p = trailerEnd + 4;
          complete = true;
          break;
        }
        if (lineEnd + 2 + size + 2 > buf.length) break;
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        p = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
      body = Buffer.concat(parts);
      bodyStart = p;
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      if (bodyStart + len > buf.length) break;
      body = buf.subarray(bodyStart, bodyStart + len);
      bodyStart += len;
    } else {
      body = buf.subarray(bodyStart);
      bodyStart = buf.length;
    }
    out.push({ status, headers, rawHeaders, body });
    pos = bodyStart;
  }
  return out;
}

/** A header list as written on the wire: name/value pairs, in order, duplicates kept. */
export type WireHeaders = readonly (readonly [string, string])[];

/**
 * The bytes of one HTTP/1.1 request, exactly as given: no header is added, removed, trimmed or
 * validated (a Host header is the caller's to send). A body is appended as it is.
 */
export function requestBytes(
  method: string,
  target: string,
  headers: WireHeaders,
  body: string | Buffer = '',
): Buffer {
  const head = `${method} ${target} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([
    Buffer.from(head, 'latin1'),
    typeof body === 'string' ? Buffer.from(body, 'latin1') : body,
  ]);
}

/** The headers that make a request a WebSocket upgrade (RFC 6455 §4.1). */
export const WEBSOCKET_UPGRADE: WireHeaders = [
  ['Upgrade', 'websocket'],
  ['Connection', 'Upgrade'],
  ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
  ['Sec-WebSocket-Version', '13'],
];
