import type { NotificationSinkConfig } from '../../config/opsSchema.ts';
import type { AlertEvent } from '../events.ts';
import type { Lang, Message } from '../templates.ts';

/** A platform's rate limit: at most `count` messages in any `perMs`. */
export type RateLimit = { count: number; perMs: number };

export type Outgoing = { url: string; headers: Record<string, string>; body: string };

export type Verdict = { ok: true } | { ok: false; retry: boolean; reason: string; retryAfterMs?: number };

export type Answer = { status: number; headers: Headers; text: string };

/** How one platform is spoken to: its limits, the request for a message, and how it answers. */
export type SinkProtocol = {
  limits: RateLimit[];
  request(input: {
    message: Message;
    event: AlertEvent;
    lang: Lang;
    config: NotificationSinkConfig;
    now: number;
  }): Outgoing;
  judge(answer: Answer): Verdict;
};

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };
export const jsonHeaders = (): Record<string, string> => ({ ...JSON_HEADERS });

/** Transport-level verdict: 429 and 5xx are worth another try (honouring Retry-After). */
export function httpVerdict(a: Answer): Verdict | undefined {
  if (a.status === 429 || a.status >= 500) {
    const after = Number(a.headers.get('retry-after'));
    return {
      ok: false,
      retry: true,
      reason: `HTTP ${a.status}`,
      retryAfterMs: Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 300_000) : undefined,
    };
  }
  if (a.status < 200 || a.status >= 300)
    return { ok: false, retry: false, reason: `HTTP ${a.status}: ${a.text.slice(0, 200)}` };
  return undefined;
}

export function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The verdict of a robot that answers HTTP 200 with `{ errcode, errmsg }` (DingTalk, WeCom):
 * errcode 0 is success; `retryable` lists the codes that mean "too fast" or "busy".
 */
export function judgeByErrcode(retryable: ReadonlySet<number>): (a: Answer) => Verdict {
  return (a) => {
    const transport = httpVerdict(a);
    if (transport) return transport;
    const json = parseJson(a.text);
    if (!json || typeof json.errcode !== 'number')
      return { ok: false, retry: false, reason: `unexpected answer: ${a.text.slice(0, 200)}` };
    if (json.errcode === 0) return { ok: true };
    return {
      ok: false,
      retry: retryable.has(json.errcode),
      reason: `errcode ${json.errcode}: ${String(json.errmsg ?? '')}`,
    };
  };
}
