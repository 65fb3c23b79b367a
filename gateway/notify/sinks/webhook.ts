import { createHmac } from 'node:crypto';
import { toMarkdown, toText } from '../templates.ts';
import { httpVerdict, type SinkProtocol } from './types.ts';

/** `X-Portico-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>`. */
export function webhookSignature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * A generic webhook: JSON POST of the event (its data, and the rendered title/text/markdown),
 * signed with `X-Portico-Signature` over the exact body; `X-Portico-Timestamp` (seconds) is also
 * `timestamp` inside the signed body, so a receiver can refuse replays. Any 2xx is success.
 */
export const webhook: SinkProtocol = {
  limits: [{ count: 10, perMs: 1000 }],
  request({ message, event, lang, config, now }) {
    const timestamp = String(Math.floor(now / 1000));
    const body = JSON.stringify({
      timestamp: Number(timestamp),
      event: event.type,
      subject: event.subject,
      time: event.time.toISOString(),
      source: event.source,
      lang,
      title: message.title,
      text: toText(message, lang),
      markdown: toMarkdown(message, lang, { heading: '###', breakLine: '\n\n', footer: (f) => `_${f}_` }),
      merged: event.merged ?? 1,
      data: event.data,
    });
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'Portico-Webhook/1',
      'x-portico-event': event.type,
      'x-portico-timestamp': timestamp,
    };
    if (config.secret) headers['x-portico-signature'] = webhookSignature(body, config.secret);
    return { url: config.webhook, headers, body };
  },
  judge(a) {
    return httpVerdict(a) ?? { ok: true };
  },
};
