import { createHmac } from 'node:crypto';
import type { Level } from '../templates.ts';
import { feishuText, toMarkdown, toText } from '../templates.ts';
import { httpVerdict, jsonHeaders, parseJson, type SinkProtocol } from './types.ts';

/**
 * `sign` for a Feishu/Lark custom bot with 签名校验, as their official sample code computes it:
 * base64(HMAC-SHA256 whose KEY is timestamp + "\n" + secret, over an EMPTY message).
 */
export function feishuSign(timestampSeconds: string, secret: string): string {
  return createHmac('sha256', `${timestampSeconds}\n${secret}`).update('').digest('base64');
}

const COLOURS: Record<Level, string> = { critical: 'red', warning: 'orange', ok: 'green', info: 'blue' };
/** 11232 frequency limited, 9499 server busy. */
const RETRY = new Set([11232, 9499]);

/**
 * Feishu custom bot: `timestamp` (seconds, a string) and `sign` in the JSON body, a message card
 * (lark_md) or text; the verdict is `code` (0 = sent). 100/min and 5/s.
 */
export const feishu: SinkProtocol = {
  limits: [
    // With margin: the bot counts arrivals, we count departures.
    { count: 100, perMs: 61_000 },
    { count: 5, perMs: 1100 },
  ],
  request({ message, lang, config, now }) {
    const signed: Record<string, string> = {};
    if (config.secret) {
      const timestamp = String(Math.floor(now / 1000));
      signed.timestamp = timestamp;
      signed.sign = feishuSign(timestamp, config.secret);
    }
    const body =
      config.msgtype === 'text'
        ? { ...signed, msg_type: 'text', content: { text: feishuText(toText(message, lang)) } }
        : {
            ...signed,
            msg_type: 'interactive',
            card: {
              config: { wide_screen_mode: true },
              header: {
                template: COLOURS[message.level],
                title: { tag: 'plain_text', content: message.title },
              },
              elements: [
                {
                  tag: 'div',
                  text: { tag: 'lark_md', content: toMarkdown(message, lang, { breakLine: '\n' }) },
                },
                { tag: 'note', elements: [{ tag: 'plain_text', content: message.footer }] },
              ],
            },
          };
    return { url: config.webhook, headers: jsonHeaders(), body: JSON.stringify(body) };
  },
  judge(a) {
    const transport = httpVerdict(a);
    const json = parseJson(a.text);
    // Feishu answers some refusals with HTTP 400 and a JSON `code`: that code is the verdict.
    const code = json?.code ?? json?.StatusCode;
    if (typeof code === 'number') {
      if (code === 0 && !transport) return { ok: true };
      if (code !== 0)
        return {
          ok: false,
          retry: RETRY.has(code),
          reason: `code ${code}: ${String(json?.msg ?? json?.StatusMessage ?? '')}`,
        };
    }
    return transport ?? { ok: false, retry: false, reason: `unexpected answer: ${a.text.slice(0, 200)}` };
  },
};
