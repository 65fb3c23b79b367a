// Shared plumbing for the demo upstreams (customer system, AI platform): the identity headers the
// customer system reads (the AI platform reads none), HTML escaping, small response helpers and
// listen/close. node:http only, no framework.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type DemoServerOptions = {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
};

export type DemoServer = {
  /** Base URL with a trailing slash, e.g. http://127.0.0.1:8081/ (usable as a route upstream). */
  url: string;
  port: number;
  close(): Promise<void>;
};

/** The identity headers Portico injects (SPEC §3 `identity.headers`), in display order. */
export const IDENTITY_HEADERS = [
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-groups',
  'x-forwarded-preferred-username',
] as const;

export type IdentityHeader = (typeof IDENTITY_HEADERS)[number];

export type DemoIdentity = {
  anonymous: boolean;
  user: string | null;
  email: string | null;
  groups: string[];
  preferredUsername: string | null;
  /** Raw (decoded, control characters removed) values of the headers that were present. */
  headers: Partial<Record<IdentityHeader, string>>;
  /** Whether an X-Portico-Assertion JWT came along (never shown: it is a credential). */
  assertion: boolean;
};

const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;
const MAX_HEADER_CHARS = 512;

/**
 * Node decodes header bytes as latin1; a gateway that forwards a UTF-8 name (张三) therefore
 * arrives as mojibake. Re-decode as UTF-8 when that is valid, and drop control characters so a
 * header can never smuggle terminal escape sequences or markup-breaking bytes.
 */
export function cleanHeaderValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  let v = Array.isArray(value) ? value.join(', ') : value;
  if (/[\u0080-\u00ff]/.test(v) && !/[^\u0000-\u00ff]/.test(v)) {
    try {
      v = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(v, 'latin1'));
    } catch {
      // not UTF-8: keep the latin1 reading
    }
  }
  return cleanText(v);
}

/** Control characters removed (no terminal escapes, no markup-breaking bytes), trimmed, bounded. */
export function cleanText(value: string): string | null {
  let v = value.replace(CONTROL_CHARS, '').trim();
  if (v.length > MAX_HEADER_CHARS) v = v.slice(0, MAX_HEADER_CHARS) + '…';
  return v === '' ? null : v;
}

export function readIdentity(headers: IncomingHttpHeaders): DemoIdentity {
  const present: Partial<Record<IdentityHeader, string>> = {};
  for (const name of IDENTITY_HEADERS) {
    const v = cleanHeaderValue(headers[name]);
    if (v !== null) present[name] = v;
  }
  const groups = (present['x-forwarded-groups'] ?? '')
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
  return {
    anonymous: Object.keys(present).length === 0,
    user: present['x-forwarded-user'] ?? null,
    email: present['x-forwarded-email'] ?? null,
    groups,
    preferredUsername: present['x-forwarded-preferred-username'] ?? null,
    headers: present,
    assertion: headers['x-portico-assertion'] !== undefined,
  };
}

/** The best short name to greet the user with. */
export function displayName(id: DemoIdentity): string {
  return id.preferredUsername ?? id.user ?? id.email ?? 'anonymous';
}

/** Header names as a human writes them: x-forwarded-user → X-Forwarded-User. */
export function headerTitle(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** The request path without its query string (no decoding: routes are plain ASCII). */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
};

/** Pages show who the user is: never cache them. */
export function sendHtml(req: IncomingMessage, res: ServerResponse, status: number, html: string): void {
  send(req, res, status, html, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
}

export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
  send(req, res, status, JSON.stringify(value, null, 2) + '\n', {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
}

export function sendText(req: IncomingMessage, res: ServerResponse, status: number, text: string): void {
  send(req, res, status, text, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
}

/** A relative Location: it stays correct behind a prefix-stripping proxy. */
export function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { ...COMMON_HEADERS, location, 'content-length': '0' });
  res.end();
}

export function methodNotAllowed(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('allow', 'GET, HEAD');
  sendText(req, res, 405, 'method not allowed\n');
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  headers: Record<string, string>,
): void {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { ...COMMON_HEADERS, ...headers, 'content-length': String(buf.length) });
  res.end(req.method === 'HEAD' ? undefined : buf);
}

export type StaticAsset = { body: Buffer; type: string; etag: string };

export function staticAsset(body: Buffer | string, type: string): StaticAsset {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  const etag = '"' + createHash('sha256').update(buf).digest('base64url').slice(0, 16) + '"';
  return { body: buf, type, etag };
}

/** Static files are small and loaded once at start; revalidated with an ETag. */
export function sendAsset(req: IncomingMessage, res: ServerResponse, asset: StaticAsset): void {
  const headers = {
    ...COMMON_HEADERS,
    'content-type': asset.type,
    'cache-control': 'no-cache',
    etag: asset.etag,
  };
  if (req.headers['if-none-match'] === asset.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': String(asset.body.length) });
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}

/** Listens and returns the URL to reach the server (unspecified addresses become loopback). */
export async function listen(
  server: Server,
  options: DemoServerOptions,
): Promise<{ url: string; port: number }> {
  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  let host = address.address;
  if (host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '::') host = '::1';
  if (host.includes(':')) host = `[${host}]`;
  return { url: `http://${host}:${address.port}/`, port: address.port };
}

export async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = once(server, 'close');
  server.close();
  server.closeAllConnections();
  await closed;
}

/** The body of a small request (a form), refused past `limit` bytes. */
export async function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error('form too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
