// The local receivers must refuse what the real platforms refuse, or the sink tests prove nothing.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  startDingTalkReceiver,
  startFeishuReceiver,
  startSlackReceiver,
  startWecomReceiver,
} from '../helpers/receivers.ts';

const post = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, text, json };
};

const dingtalkUrl = (base: string, secret: string, timestamp: number) => {
  const sign = createHmac('sha256', secret).update(`${timestamp}\n${secret}`).digest('base64');
  return `${base}&timestamp=${timestamp}&sign=${encodeURIComponent(sign)}`;
};
const text = { msgtype: 'text', text: { content: 'hello' } };

describe('the local DingTalk receiver', () => {
  it('accepts a correctly signed message', async (t) => {
    const dt = await startDingTalkReceiver({ secret: 'SECdt' });
    t.after(() => dt.close());
    const r = await post(dingtalkUrl(dt.url, 'SECdt', Date.now()), text);
    assert.deepEqual([r.status, r.json], [200, { errcode: 0, errmsg: 'ok' }]);
  });

  it('refuses a wrong signature with errcode 310000 and HTTP 200, as DingTalk does', async (t) => {
    const dt = await startDingTalkReceiver({ secret: 'SECdt' });
    t.after(() => dt.close());
    const r = await post(dingtalkUrl(dt.url, 'SECwrong', Date.now()), text);
    assert.equal(r.status, 200);
    assert.equal(r.json?.errcode, 310000);
    assert.match(String(r.json?.errmsg), /^sign not match/);
  });

  it('refuses a sign whose "+" was not URL-encoded', async (t) => {
    const dt = await startDingTalkReceiver({ secret: 'SECdt' });
    t.after(() => dt.close());
    // Find a timestamp whose signature contains "+", then send it raw: the server decodes it as a space.
    let ts = Date.now();
    let sign = '';
    do {
      ts++;
      sign = createHmac('sha256', 'SECdt').update(`${ts}\nSECdt`).digest('base64');
    } while (!sign.includes('+'));
    const r = await post(`${dt.url}&timestamp=${ts}&sign=${sign}`, text);
    assert.equal(r.json?.errcode, 310000);
  });

  it('refuses a timestamp more than an hour away', async (t) => {
    const dt = await startDingTalkReceiver({ secret: 'SECdt' });
    t.after(() => dt.close());
    const r = await post(dingtalkUrl(dt.url, 'SECdt', Date.now() - 3_700_000), text);
    assert.equal(r.json?.errcode, 310000);
  });

  it('answers "send too fast" (130101) beyond 20 messages a minute', async (t) => {
    const dt = await startDingTalkReceiver({ secret: 'SECdt' });
    t.after(() => dt.close());
    const codes: unknown[] = [];
    for (let i = 0; i < 21; i++)
      codes.push((await post(dingtalkUrl(dt.url, 'SECdt', Date.now()), text)).json?.errcode);
    assert.deepEqual(codes.slice(0, 20), Array(20).fill(0));
    assert.equal(codes[20], 130101);
  });

  it('refuses a markdown message without a title', async (t) => {
    const dt = await startDingTalkReceiver();
    t.after(() => dt.close());
    const r = await post(dt.url, { msgtype: 'markdown', markdown: { text: 'x' } });
    assert.equal(r.json?.errcode, 40035);
  });
});

describe('the local Feishu receiver', () => {
  const feishuSign = (ts: string, secret: string) =>
    createHmac('sha256', `${ts}\n${secret}`).update('').digest('base64');

  /** A text message "hi" carrying `timestamp` and `sign` as a Feishu bot call does. */
  const hiSignedWith = (timestamp: string, sign: string) => ({
    timestamp,
    sign,
    msg_type: 'text',
    content: { text: 'hi' },
  });

  it('accepts a signature keyed with timestamp + "\\n" + secret over an empty message', async (t) => {
    const fs = await startFeishuReceiver({ secret: 'fsSecret' });
    t.after(() => fs.close());
    const ts = String(Math.floor(Date.now() / 1000));
    const r = await post(fs.url, hiSignedWith(ts, feishuSign(ts, 'fsSecret')));
    assert.equal(r.json?.code, 0);
  });

  it('refuses the signature their prose suggests (keyed with the secret) with code 19021', async (t) => {
    const fs = await startFeishuReceiver({ secret: 'fsSecret' });
    t.after(() => fs.close());
    const ts = String(Math.floor(Date.now() / 1000));
    const wrong = createHmac('sha256', 'fsSecret').update(`${ts}\nfsSecret`).digest('base64');
    const r = await post(fs.url, hiSignedWith(ts, wrong));
    assert.deepEqual(r.json, {
      code: 19021,
      data: {},
      msg: 'sign match fail or timestamp is not within one hour from current time',
    });
  });

  it('refuses a timestamp in milliseconds', async (t) => {
    const fs = await startFeishuReceiver({ secret: 'fsSecret' });
    t.after(() => fs.close());
    const ts = String(Date.now());
    const r = await post(fs.url, hiSignedWith(ts, feishuSign(ts, 'fsSecret')));
    assert.equal(r.json?.code, 19021);
  });

  it('limits a bot to five messages a second', async (t) => {
    const fs = await startFeishuReceiver();
    t.after(() => fs.close());
    const codes = await Promise.all(
      Array.from({ length: 6 }, () =>
        post(fs.url, { msg_type: 'text', content: { text: 'x' } }).then((r) => r.json?.code),
      ),
    );
    assert.deepEqual(codes.sort(), [0, 0, 0, 0, 0, 11232]);
  });
});

describe('the local WeCom receiver', () => {
  it('refuses an unknown key with errcode 93000', async (t) => {
    const wc = await startWecomReceiver();
    t.after(() => wc.close());
    const r = await post(wc.url.replace(/key=.*/, 'key=nope'), text);
    assert.equal(r.json?.errcode, 93000);
  });

  it('refuses text content over 2048 bytes with errcode 40058', async (t) => {
    const wc = await startWecomReceiver();
    t.after(() => wc.close());
    const r = await post(wc.url, { msgtype: 'text', text: { content: '字'.repeat(683) } }); // 2049 bytes
    assert.equal(r.json?.errcode, 40058);
    const ok = await post(wc.url, { msgtype: 'text', text: { content: '字'.repeat(682) } }); // 2046 bytes
    assert.equal(ok.json?.errcode, 0);
  });
});

describe('the local Slack receiver', () => {
  it('answers 400 invalid_payload to a body that is not JSON and 404 no_service to a wrong hook', async (t) => {
    const sl = await startSlackReceiver();
    t.after(() => sl.close());
    assert.deepEqual(await post(sl.url, 'text=hi').then((r) => [r.status, r.text]), [400, 'invalid_payload']);
    assert.deepEqual(
      await post(`${sl.origin}/services/T/B/nope`, { text: 'x' }).then((r) => [r.status, r.text]),
      [404, 'no_service'],
    );
    assert.deepEqual(await post(sl.url, { text: 'x' }).then((r) => [r.status, r.text]), [200, 'ok']);
    assert.equal((await post(sl.url, { text: 'again at once' })).status, 429);
  });
});
