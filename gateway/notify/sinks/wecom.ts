import { truncateUtf8 } from '../format.ts';
import { toMarkdown, toText } from '../templates.ts';
import { jsonHeaders, judgeByErrcode, type SinkProtocol } from './types.ts';

/** WeCom's content limits, in bytes of UTF-8. */
export const WECOM_TEXT_MAX = 2048;
export const WECOM_MARKDOWN_MAX = 4096;
/** 45009 api freq out of limit, -1 system busy. */
const RETRY = new Set([45009, -1]);

/**
 * WeCom (企业微信) group robot: the key is in the webhook URL; `msgtype` markdown (≤ 4096 bytes) or
 * text (≤ 2048 bytes), cut on a character boundary; the verdict is `errcode`. 20/min.
 */
export const wecom: SinkProtocol = {
  // A second of margin: the robot counts arrivals, we count departures.
  limits: [{ count: 20, perMs: 61_000 }],
  request({ message, lang, config }) {
    const body =
      config.msgtype === 'text'
        ? { msgtype: 'text', text: { content: truncateUtf8(toText(message, lang), WECOM_TEXT_MAX) } }
        : {
            msgtype: 'markdown',
            markdown: {
              content: truncateUtf8(
                toMarkdown(message, lang, {
                  heading: '##',
                  breakLine: '\n',
                  footer: (f) => `<font color="comment">${f}</font>`,
                }),
                WECOM_MARKDOWN_MAX,
              ),
            },
          };
    return { url: config.webhook, headers: jsonHeaders(), body: JSON.stringify(body) };
  },
  judge: judgeByErrcode(RETRY),
};
