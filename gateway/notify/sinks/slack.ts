import { truncateChars } from '../format.ts';
import { slackEscape, toSlackMrkdwn, toText } from '../templates.ts';
import { httpVerdict, jsonHeaders, type SinkProtocol } from './types.ts';

/**
 * Slack incoming webhook: JSON `{ text, blocks }` (text is the notification fallback); HTTP 200 with
 * `ok` is success, anything else a failure (429/5xx retried). About one message per second.
 */
export const slack: SinkProtocol = {
  limits: [{ count: 1, perMs: 1100 }],
  request({ message, lang, config }) {
    // Slack formats `text` too (alone, and as the notification of a message with blocks): what a
    // request put in a value must not become a mention of everyone or a link.
    const text = truncateChars(slackEscape(toText(message, lang)), 3000);
    const body =
      config.msgtype === 'text'
        ? { text }
        : {
            text,
            blocks: [
              { type: 'header', text: { type: 'plain_text', text: truncateChars(message.title, 150) } },
              {
                type: 'section',
                text: { type: 'mrkdwn', text: truncateChars(toSlackMrkdwn(message, lang) || ' ', 3000) },
              },
              {
                type: 'context',
                elements: [{ type: 'plain_text', text: truncateChars(message.footer, 150) }],
              },
            ],
          };
    return { url: config.webhook, headers: jsonHeaders(), body: JSON.stringify(body) };
  },
  judge(a) {
    return httpVerdict(a) ?? { ok: true };
  },
};
