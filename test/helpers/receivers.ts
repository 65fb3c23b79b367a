/**
 * Local stand-ins for the chat robots, Uptime Kuma, Sentry and Prometheus, each enforcing its
 * platform's published protocol: signatures and timestamps recomputed and checked, wrong payloads
 * refused with that platform's real error shape, and the platform's rate limit applied. They are
 * written from the platforms' documentation, independently of gateway/notify, so a sink that
 * gets the protocol wrong fails here as it would against the real service.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type Received = {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown> | undefined;
  /** What the receiver answered. */
  status: number;
  answer: unknown;
  /** True when the platform would have delivered the message. */
  accepted: boolean;
  at: number;
};

export type Receiver = {
  url: string;
  origin: string;
  received: Received[];
  /** The JSON bodies the platform accepted, in order. */
  accepted(): Record<string, unknown>[];
  /** Rejected requests (wrong signature, payload, rate, or a forced failure). */
  rejected(): Received[];
  /** The next `n` requests get `status` (default 500) before any check: an outage. */
  failNext(n: number, status?: number): void;
  close(): Promise<void>;
};

type Verdict = {
  status: number;
  body: unknown;
  accepted: boolean;
  contentType?: string;
  headers?: Record<string, string>;
};
type Check = (r: Omit<Received, 'status' | 'answer' | 'accepted'>, now: number) => Verdict;

const HOUR = 3_600_000;

async function startReceiver(path: string, check: Check): Promise<Receiver> {
  const received: Received[] = [];
  let failures: { n: number; status: number } = { n: 0, status: 500 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://receiver');
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      const body = raw.toString('utf8');
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      const base = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
        json,
        at: Date.now(),
      };
      let v: Verdict;
      if (failures.n > 0) {
        failures.n--;
        v = {
          status: failures.status,
          body: 'upstream connect error',
          accepted: false,
          contentType: 'text/plain',
        };
      } else v = check(base, Date.now());
      received.push({ ...base, status: v.status, answer: v.body, accepted: v.accepted });
      res.statusCode = v.status;
      for (const [k, val] of Object.entries(v.headers ?? {})) res.setHeader(k, val);
      if (typeof v.body === 'string') {
        res.setHeader('content-type', v.contentType ?? 'text/plain; charset=utf-8');
        res.end(v.body);
      } else {
        res.setHeader('content-type', v.contentType ?? 'application/json; charset=utf-8');
        res.end(JSON.stringify(v.body));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: origin + path,
    origin,
    received,
    accepted: () => received.filter((r) => r.accepted).map((r) => r.json!),
    rejected: () => received.filter((r) => !r.accepted),
    failNext(n, status = 500) {
      failures = { n, status };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Counts accepted messages in a sliding window, as the platforms' per-robot limits do. */
function slidingWindow(count: number, perMs: number) {
  const times: number[] = [];
  return {
    full(now: number): boolean {
      while (times.length > 0 && times[0]! <= now - perMs) times.shift();
      return times.length >= count;
    },
    add(now: number) {
      times.push(now);
    },
  };
}

const b64hmac = (key: string, message: string) => createHmac('sha256', key).update(message).digest('base64');

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * DingTalk custom robot (https://open.dingtalk.com/document/robots/custom-robot-access): POST
 * /robot/send?access_token=…&timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256(secret,
 * timestamp+"\n"+secret)>; every answer is HTTP 200 with `errcode`; 20 messages a minute.
 */
export async function startDingTalkReceiver(
  o: { secret?: string; accessToken?: string; perMinute?: number } = {},
): Promise<Receiver> {
  const token = o.accessToken ?? 'dt-access-token';
  const limit = slidingWindow(o.perMinute ?? 20, 60_000);
  const err = (errcode: number, errmsg: string): Verdict => ({
    status: 200,
    body: { errcode, errmsg },
    accepted: false,
  });
  return startReceiver(`/robot/send?access_token=${token}`, (r, now) => {
    if (r.method !== 'POST' || r.path !== '/robot/send')
      return { status: 404, body: 'Not Found', accepted: false };
    if (r.query.get('access_token') !== token) return err(300001, 'token is not exist');
    if (o.secret) {
      const timestamp = r.query.get('timestamp') ?? '';
      const sign = r.query.get('sign') ?? '';
      if (!/^\d{13}$/.test(timestamp) || Math.abs(now - Number(timestamp)) > HOUR)
        return err(310000, 'invalid timestamp');
      if (!sameText(sign, b64hmac(o.secret, `${timestamp}\n${o.secret}`)))
        return err(
          310000,
          'sign not match, more: [https://open.dingtalk.com/document/robots/customize-robot-security-settings]',
        );
    }
    if (!String(r.headers['content-type'] ?? '').startsWith('application/json'))
      return err(43004, '无效的HTTP HEADER Content-Type');
    const j = r.json;
    if (!j) return err(40035, '缺少参数 json');
    const ok =
      (j.msgtype === 'text' && typeof (j.text as { content?: unknown })?.content === 'string') ||
      (j.msgtype === 'markdown' &&
        typeof (j.markdown as { title?: unknown })?.title === 'string' &&
        typeof (j.markdown as { text?: unknown })?.text === 'string');
    if (!ok) return err(40035, '缺少参数 msgtype');
    if (limit.full(now)) return err(130101, 'send too fast, exceed 20 times per minute');
    limit.add(now);
    return { status: 200, body: { errcode: 0, errmsg: 'ok' }, accepted: true };
  });
}

/**
 * Feishu custom bot (https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot): POST
 * /open-apis/bot/v2/hook/<id> with `timestamp` (seconds) and `sign` in the JSON body, where sign =
 * base64(HMAC-SHA256 keyed with timestamp+"\n"+secret over an empty message); `code` 0 is success;
 * 100 a minute and 5 a second.
 */
export async function startFeishuReceiver(o: { secret?: string; hook?: string } = {}): Promise<Receiver> {
  const hook = o.hook ?? 'fs-hook-id';
  const perMinute = slidingWindow(100, 60_000);
  const perSecond = slidingWindow(5, 1000);
  const err = (code: number, msg: string, status = 200): Verdict => ({
    status,
    body: { code, data: {}, msg },
    accepted: false,
  });
  return startReceiver(`/open-apis/bot/v2/hook/${hook}`, (r, now) => {
    if (r.method !== 'POST' || !r.path.startsWith('/open-apis/bot/v2/hook/'))
      return { status: 404, body: '404 page not found', accepted: false };
    if (r.path !== `/open-apis/bot/v2/hook/${hook}`)
      return err(19001, 'param invalid: incoming webhook access token invalid');
    const j = r.json;
    if (!j) return err(9499, 'Bad Request', 400);
    if (o.secret) {
      const timestamp = j.timestamp;
      const valid =
        typeof timestamp === 'string' &&
        /^\d{10}$/.test(timestamp) &&
        Math.abs(now - Number(timestamp) * 1000) <= HOUR &&
        typeof j.sign === 'string' &&
        sameText(j.sign, createHmac('sha256', `${timestamp}\n${o.secret}`).update('').digest('base64'));
      if (!valid) return err(19021, 'sign match fail or timestamp is not within one hour from current time');
    }
    const ok =
      (j.msg_type === 'text' && typeof (j.content as { text?: unknown })?.text === 'string') ||
      (j.msg_type === 'interactive' && typeof j.card === 'object' && j.card !== null) ||
      (j.msg_type === 'post' && typeof j.content === 'object');
    if (!ok) return err(19002, 'params error, msg_type need');
    if (perMinute.full(now) || perSecond.full(now))
      return err(11232, 'frequency limited psm[lark.oapi.app_platform_runtime]appID[1]');
    perMinute.add(now);
    perSecond.add(now);
    return {
      status: 200,
      body: { StatusCode: 0, StatusMessage: 'success', code: 0, data: {}, msg: 'success' },
      accepted: true,
    };
  });
}

/**
 * WeCom group robot (https://developer.work.weixin.qq.com/document/path/91770): POST
 * /cgi-bin/webhook/send?key=…; text content at most 2048 bytes, markdown 4096; `errcode`; 20/min.
 */
export async function startWecomReceiver(o: { key?: string } = {}): Promise<Receiver> {
  const key = o.key ?? 'wecom-robot-key';
  const limit = slidingWindow(20, 60_000);
  const err = (errcode: number, errmsg: string): Verdict => ({
    status: 200,
    body: { errcode, errmsg },
    accepted: false,
  });
  return startReceiver(`/cgi-bin/webhook/send?key=${key}`, (r, now) => {
    if (r.method !== 'POST' || r.path !== '/cgi-bin/webhook/send')
      return { status: 404, body: '', accepted: false };
    if (r.query.get('key') !== key)
      return err(
        93000,
        'invalid webhook url, hint: [1700000000_1_abc], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=93000',
      );
    const j = r.json;
    if (!j) return err(40001, 'invalid json');
    const types: Record<string, number> = { text: 2048, markdown: 4096 };
    const max = types[String(j.msgtype)];
    if (!max) return err(40008, 'invalid message type');
    const content = (j[String(j.msgtype)] as { content?: unknown } | undefined)?.content;
    if (typeof content !== 'string' || content.length === 0) return err(44004, 'empty content');
    if (Buffer.byteLength(content, 'utf8') > max)
      return err(40058, `content exceed max length ${max}. invalid Request Parameter`);
    // A cut in the middle of a character arrives as U+FFFD: the message would show garbage.
    if (content.includes('\uFFFD')) return err(40058, 'invalid utf8 content');
    if (limit.full(now)) return err(45009, 'api freq out of limit');
    limit.add(now);
    return { status: 200, body: { errcode: 0, errmsg: 'ok' }, accepted: true };
  });
}

/**
 * Slack incoming webhook (https://api.slack.com/messaging/webhooks): POST JSON with `text` and/or
 * `blocks`; 200 "ok"; 400 invalid_payload / no_text / invalid_blocks; 404 no_service; 429 beyond
 * about one message a second.
 */
export async function startSlackReceiver(): Promise<Receiver> {
  const path = '/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX';
  let last = Number.NEGATIVE_INFINITY;
  return startReceiver(path, (r, now) => {
    if (r.method !== 'POST' || r.path !== path) return { status: 404, body: 'no_service', accepted: false };
    const j = r.json;
    if (!j || !String(r.headers['content-type'] ?? '').startsWith('application/json'))
      return { status: 400, body: 'invalid_payload', accepted: false };
    if (typeof j.text !== 'string' && !Array.isArray(j.blocks))
      return { status: 400, body: 'no_text', accepted: false };
    if (Array.isArray(j.blocks)) {
      for (const b of j.blocks as { type?: string; text?: { text?: string; type?: string } }[]) {
        const max = b.type === 'header' ? 150 : 3000;
        if (
          b.text &&
          (typeof b.text.text !== 'string' || b.text.text.length === 0 || b.text.text.length > max)
        )
          return { status: 400, body: 'invalid_blocks', accepted: false };
      }
    }
    // One a second, with 100 ms of slack for the network.
    if (now - last < 900)
      return { status: 429, body: 'rate_limited', accepted: false, headers: { 'retry-after': '1' } };
    last = now;
    return { status: 200, body: 'ok', accepted: true };
  });
}

/** The generic webhook: `X-Portico-Signature: sha256=<hex HMAC of the raw body>`, timestamp within 5 minutes. */
export async function startWebhookReceiver(o: { secret: string }): Promise<Receiver> {
  return startReceiver('/hooks/portico', (r, now) => {
    if (r.method !== 'POST' || r.path !== '/hooks/portico')
      return { status: 404, body: 'not found', accepted: false };
    const ts = Number(r.headers['x-portico-timestamp']);
    const sig = String(r.headers['x-portico-signature'] ?? '');
    const expected = `sha256=${createHmac('sha256', o.secret).update(r.body).digest('hex')}`;
    if (!Number.isFinite(ts) || Math.abs(now - ts * 1000) > 300_000 || !sameText(sig, expected))
      return { status: 401, body: { error: 'bad signature' }, accepted: false };
    if (r.json?.timestamp !== ts)
      return { status: 400, body: { error: 'timestamp mismatch' }, accepted: false };
    return { status: 204, body: '', accepted: true };
  });
}

export type KumaPush = { status: string; msg: string; ping: string };

/** Uptime Kuma push monitor: GET /api/push/<token>?status=up|down&msg=…&ping=<ms>. */
export async function startUptimeKumaReceiver(
  o: { token?: string } = {},
): Promise<Receiver & { pushes(): KumaPush[] }> {
  const token = o.token ?? 'kumaPushToken';
  const r = await startReceiver(`/api/push/${token}?status=up&msg=OK&ping=`, (req) => {
    if (req.path !== `/api/push/${token}`)
      return { status: 404, body: { ok: false, msg: 'Monitor not found or not active.' }, accepted: false };
    const status = req.query.get('status') ?? 'up';
    const ping = req.query.get('ping') ?? '';
    if ((status !== 'up' && status !== 'down') || (ping !== '' && !/^\d+(\.\d+)?$/.test(ping)))
      return { status: 200, body: { ok: false, msg: 'Invalid status or ping' }, accepted: false };
    return { status: 200, body: { ok: true }, accepted: true };
  });
  return {
    ...r,
    pushes: () =>
      r.received
        .filter((x) => x.accepted)
        .map((x) => ({
          status: x.query.get('status')!,
          msg: x.query.get('msg') ?? '',
          ping: x.query.get('ping') ?? '',
        })),
  };
}

export type Envelope = {
  header: Record<string, unknown>;
  items: { header: Record<string, unknown>; payload: unknown }[];
  raw: string;
};

/** A Sentry ingest endpoint: POST /api/<project>/envelope/ with the DSN's public key. DSN: `http://publickey@host/1`. */
export async function startSentryReceiver(): Promise<Receiver & { dsn: string; envelopes(): Envelope[] }> {
  const r = await startReceiver('/', (req) => {
    if (req.method !== 'POST' || !/^\/api\/1\/envelope\/?$/.test(req.path))
      return { status: 404, body: { detail: 'not found' }, accepted: false };
    const auth = `${req.headers['x-sentry-auth'] ?? ''} ${req.query.get('sentry_key') ?? ''} ${req.body.split('\n')[0]}`;
    if (!auth.includes('publickey'))
      return { status: 401, body: { detail: 'missing authorization information' }, accepted: false };
    return { status: 200, body: { id: 'ok' }, accepted: true };
  });
  const parse = (raw: string): Envelope => {
    const lines = raw.split('\n');
    const header = JSON.parse(lines[0]!) as Record<string, unknown>;
    const items: Envelope['items'] = [];
    for (let i = 1; i + 1 < lines.length; i += 2) {
      if (!lines[i]) break;
      const h = JSON.parse(lines[i]!) as Record<string, unknown>;
      let payload: unknown = lines[i + 1];
      try {
        payload = JSON.parse(lines[i + 1]!);
      } catch {}
      items.push({ header: h, payload });
    }
    return { header, items, raw };
  };
  return {
    ...r,
    dsn: `http://publickey@${r.origin.replace('http://', '')}/1`,
    envelopes: () => r.received.filter((x) => x.accepted).map((x) => parse(x.body)),
  };
}

export type Sample = { name: string; labels: Record<string, string>; value: number };

/** Prometheus text exposition format → samples (what a Prometheus scrape would store). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (const l of (m[3] ?? '').matchAll(re))
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

/** The value of one series (labels must match exactly those given; others may be present). */
export function sampleValue(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const s = samples.find(
    (x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  );
  return s?.value;
}

/** GET a metrics endpoint like Prometheus does and parse it. */
export async function scrape(url: string, token?: string): Promise<Sample[]> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (res.status !== 200) throw new Error(`scrape ${url} answered ${res.status}`);
  return parsePrometheus(await res.text());
}
