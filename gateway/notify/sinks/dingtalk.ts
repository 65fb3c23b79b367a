import { createHmac } from 'node:crypto';
import { toMarkdown, toText } from '../templates.ts';
import { jsonHeaders, judgeByErrcode, type SinkProtocol } from './types.ts';

/** `sign` for a DingTalk robot with 加签: base64(HMAC-SHA256(key = secret, timestamp + "\n" + secret)). */
export function dingtalkSign(timestampMs: string, secret: string): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64');
}

/** errcodes that mean "later": 130101 send too fast, -1 system busy. */
const RETRY = new Set([130101, -1]);

/**
 * DingTalk custom robot: POST JSON to the webhook with `timestamp` (ms) and the URL-encoded `sign`
 * as query parameters; HTTP 200 even on errors, the verdict is `errcode` (0 = sent). 20/min.
 */
export const dingtalk: SinkProtocol = {
  // A second of margin: the robot counts arrivals, we count departures.
  limits: [{ count: 20, perMs: 61_000 }],
  request({ message, lang, config, now }) {
    const url = new URL(config.webhook);
    if (config.secret) {
      const timestamp = String(now);
      url.searchParams.set('timestamp', timestamp);
      url.searchParams.set('sign', dingtalkSign(timestamp, config.secret));
    }
    const body =
      config.msgtype === 'text'
        ? { msgtype: 'text', text: { content: toText(message, lang) } }
        : {
            msgtype: 'markdown',
            markdown: {
              title: message.title,
              text: toMarkdown(message, lang, {
                heading: '####',
                breakLine: '\n\n',
                footer: (f) => `> ${f}`,
              }),
            },
          };
    return { url: url.toString(), headers: jsonHeaders(), body: JSON.stringify(body) };
  },
  judge: judgeByErrcode(RETRY),
};
