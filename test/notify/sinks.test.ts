import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { NotificationSinkConfig } from '../../gateway/config/opsSchema.ts';
import type { NewEvent } from '../../gateway/notify/events.ts';
import { truncateUtf8 } from '../../gateway/notify/format.ts';
import { createNotifier } from '../../gateway/notify/notifier.ts';
import { createRateLimiter } from '../../gateway/notify/rateLimiter.ts';
import {
  startDingTalkReceiver,
  startFeishuReceiver,
  startSlackReceiver,
  startWebhookReceiver,
  startWecomReceiver,
} from '../helpers/receivers.ts';
import { until } from '../helpers/eventually.ts';

function notifierFor(t: TestContext, sinks: NotificationSinkConfig[]) {
  const counts = new Map<string, number>();
  const notifier = createNotifier({
    sinks: () => sinks,
    source: () => 'portal.example.com',
    log: pino({ level: process.env.PORTICO_TEST_LOG ?? 'silent' }),
    count: (sink, result) => counts.set(`${sink}:${result}`, (counts.get(`${sink}:${result}`) ?? 0) + 1),
  });
  t.after(() => notifier.close(200));
  return { notifier, count: (key: string) => counts.get(key) ?? 0 };
}

const down = (route = 'ai', error = 'refused: ECONNREFUSED'): NewEvent => ({
  type: 'upstream.down',
  subject: `upstream:${route}`,
  fingerprint: 'down',
  data: { route, upstream: 'http://10.6.8.2:30343/', error, failures: 3 },
});
const up = (route = 'ai'): NewEvent => ({
  type: 'upstream.up',
  subject: `upstream:${route}`,
  fingerprint: 'up',
  data: { route, upstream: 'http://10.6.8.2:30343/', downtimeMs: 65_000 },
});
const admin = (i: number): NewEvent => ({
  type: 'admin.change',
  subject: 'admin:ci',
  data: { actor: 'ci', action: `config.deploy #${i}` },
});

describe('chat-robot sinks', () => {
  it('signs a DingTalk alert as DingTalk checks it and sends zh-CN markdown by default', async (t) => {
    const dt = await startDingTalkReceiver({ secret: 'SECdingtalk' });
    t.after(() => dt.close());
    const { notifier, count } = notifierFor(t, [
      { type: 'dingtalk', webhook: dt.url, secret: 'SECdingtalk' },
    ]);
    notifier.emit(down());
    await until(() => dt.received.length === 1);
    assert.equal(dt.rejected().length, 0, JSON.stringify(dt.rejected()[0]?.answer));
    const body = dt.accepted()[0] as { msgtype: string; markdown: { title: string; text: string } };
    assert.equal(body.msgtype, 'markdown');
    assert.equal(body.markdown.title, '【故障】上游服务不可达：ai');
    assert.match(body.markdown.text, /\*\*原因\*\*：refused: ECONNREFUSED/);
    assert.match(body.markdown.text, /portal\.example\.com/);
    assert.match(dt.received[0]!.query.get('timestamp')!, /^\d{13}$/);
    await until(() => count('dingtalk:ok') === 1);
  });

  it('shows what came from a request as plain text in the chat: no link, image or formatting', async (t) => {
    const dt = await startDingTalkReceiver({ secret: 'SECdingtalk' });
    t.after(() => dt.close());
    const { notifier } = notifierFor(t, [{ type: 'dingtalk', webhook: dt.url, secret: 'SECdingtalk' }]);
    notifier.emit({
      type: 'auth.failure_burst',
      subject: 'auth',
      data: {
        count: 10,
        windowMs: 60_000,
        idps: ['corp'],
        ips: ['203.0.113.7'],
        users: [
          '[Re-verify your admin key](https://evil.example/x) ![x](https://evil.example/i.png) **now**',
        ],
      },
    });
    await until(() => dt.received.length === 1);
    const text = (dt.accepted()[0] as { markdown: { text: string } }).markdown.text;
    assert.match(text, /Re-verify your admin key/);
    assert.doesNotMatch(text, /\]\(|!\[|https:\/\/evil|\*\*now/);
  });

  it('keeps mentions and links out of Slack and Feishu text: a value cannot notify everyone or link', async (t) => {
    const sl = await startSlackReceiver();
    const fs = await startFeishuReceiver();
    t.after(() => Promise.all([sl.close(), fs.close()]));
    const { notifier } = notifierFor(t, [
      { type: 'slack', webhook: sl.url, msgtype: 'text', lang: 'en-US' },
      { type: 'slack', webhook: sl.url, lang: 'en-US' },
      { type: 'feishu', webhook: fs.url, msgtype: 'text', lang: 'en-US' },
    ]);
    // What a sessions:revoke key sent as a user name, in the admin.change that reports it.
    const detail =
      '{"username":"<!channel> <https://evil.example/|renew your key> <at user_id=all>x</at> & co"}';
    notifier.emit({
      type: 'admin.change',
      subject: 'admin:support',
      data: { actor: 'support', action: 'sessions.revoke', detail },
    });
    await until(() => sl.received.length === 2 && fs.received.length === 1);
    for (const body of sl.accepted() as { text: string }[]) {
      assert.doesNotMatch(body.text, /<!channel>|<https:|<at /);
      assert.match(body.text, /&lt;!channel&gt; &lt;https:\/\/evil\.example\/\|renew your key&gt;/);
      assert.match(body.text, / &amp; co/);
    }
    const text = (fs.accepted()[0] as { content: { text: string } }).content.text;
    assert.doesNotMatch(text, /<at /);
    assert.match(text, /＜at user_id=all＞x＜\/at＞/);
  });

  it('puts a Feishu timestamp in seconds and its sign in the body, and sends an en-US card', async (t) => {
    const fs = await startFeishuReceiver({ secret: 'fsSecret' });
    t.after(() => fs.close());
    const { notifier } = notifierFor(t, [
      { type: 'feishu', webhook: fs.url, secret: 'fsSecret', lang: 'en-US' },
    ]);
    notifier.emit(up());
    await until(() => fs.received.length === 1);
    assert.equal(fs.rejected().length, 0, JSON.stringify(fs.rejected()[0]?.answer));
    const body = fs.accepted()[0] as {
      timestamp: string;
      msg_type: string;
      card: { header: { template: string; title: { content: string } } };
    };
    assert.match(body.timestamp, /^\d{10}$/);
    assert.equal(body.msg_type, 'interactive');
    assert.equal(body.card.header.title.content, '[RECOVERED] Upstream is back: ai');
    assert.equal(body.card.header.template, 'green');
    assert.match(JSON.stringify(body.card), /Down for\*\*: 1m 5s/);
  });

  it('sends WeCom markdown and text that the robot accepts', async (t) => {
    const wc = await startWecomReceiver();
    t.after(() => wc.close());
    const { notifier } = notifierFor(t, [
      { type: 'wecom', webhook: wc.url },
      { type: 'wecom', webhook: wc.url, msgtype: 'text', lang: 'en-US' },
    ]);
    notifier.emit(down());
    await until(() => wc.received.length === 2);
    assert.equal(wc.rejected().length, 0);
    const types = wc
      .accepted()
      .map((b) => b.msgtype)
      .sort();
    assert.deepEqual(types, ['markdown', 'text']);
  });

  it('cuts an over-long WeCom message on a UTF-8 character boundary within the byte limit', async (t) => {
    const wc = await startWecomReceiver();
    t.after(() => wc.close());
    const { notifier } = notifierFor(t, [
      { type: 'wecom', webhook: wc.url, msgtype: 'text' },
      { type: 'wecom', webhook: wc.url },
    ]);
    const problems = Array.from({ length: 5 }, (_, i) => ({
      path: `routes[${i}].upstream`,
      line: i + 1,
      message: '上游地址无效'.repeat(40),
    }));
    const long: NewEvent = {
      type: 'config.rejected',
      subject: 'config',
      data: { file: '/etc/portico/routes.yaml', problems },
    };
    const longer: NewEvent = {
      type: 'admin.change',
      subject: 'admin:ci',
      data: { actor: 'ci', action: '更新配置', detail: '变更说明'.repeat(500) },
    };
    notifier.emit(long);
    notifier.emit(longer);
    await until(() => wc.received.length === 4);
    assert.equal(wc.rejected().length, 0, JSON.stringify(wc.rejected()[0]?.answer));
    const text = wc.accepted().find((b) => b.msgtype === 'text') as { text: { content: string } };
    assert.ok(Buffer.byteLength(text.text.content) <= 2048);
    assert.ok(text.text.content.endsWith('…'));
    // The helper itself: a 3-byte character straddling the limit is left out whole.
    assert.equal(truncateUtf8('ab字字', 8), 'ab字字');
    assert.equal(truncateUtf8('ab字字', 7), 'ab…');
    assert.equal(truncateUtf8('ab字字字', 10), 'ab字…');
    assert.equal(truncateUtf8('😀😀', 7, ''), '😀');
  });

  it('sends Slack a text fallback with header and section blocks', async (t) => {
    const sl = await startSlackReceiver();
    t.after(() => sl.close());
    const { notifier } = notifierFor(t, [{ type: 'slack', webhook: sl.url, lang: 'en-US' }]);
    notifier.emit(down());
    await until(() => sl.received.length === 1);
    const body = sl.accepted()[0] as { text: string; blocks: { type: string }[] };
    assert.match(body.text, /^\[DOWN\] Upstream unreachable: ai/);
    assert.deepEqual(
      body.blocks.map((b) => b.type),
      ['header', 'section', 'context'],
    );
  });

  it('signs the generic webhook with X-Portico-Signature over the exact body', async (t) => {
    const wh = await startWebhookReceiver({ secret: 'whsecret' });
    t.after(() => wh.close());
    const { notifier } = notifierFor(t, [{ type: 'webhook', webhook: wh.url, secret: 'whsecret' }]);
    notifier.emit(down());
    await until(() => wh.received.length === 1);
    assert.equal(wh.rejected().length, 0, JSON.stringify(wh.rejected()[0]?.answer));
    const body = wh.accepted()[0] as { event: string; data: { route: string }; lang: string };
    assert.deepEqual([body.event, body.data.route, body.lang], ['upstream.down', 'ai', 'zh-CN']);
    assert.match(String(wh.received[0]!.headers['x-portico-signature']), /^sha256=[0-9a-f]{64}$/);
  });

  it('retries after a 500 and then delivers, counting the retry', async (t) => {
    const dt = await startDingTalkReceiver({ secret: 'SECdingtalk' });
    t.after(() => dt.close());
    dt.failNext(2, 500);
    const { notifier, count } = notifierFor(t, [
      { type: 'dingtalk', webhook: dt.url, secret: 'SECdingtalk', retryBackoff: '20ms' },
    ]);
    notifier.emit(down());
    // The receiver answers before the sink counts the delivery: wait for the count, not the receipt.
    await until(() => count('dingtalk:ok') === 1);
    assert.deepEqual(
      dt.received.map((r) => r.status),
      [500, 500, 200],
    );
    assert.equal(count('dingtalk:retried'), 2);
    assert.equal(count('dingtalk:ok'), 1);
  });

  it('gives up after the bounded number of attempts', async (t) => {
    const wh = await startWebhookReceiver({ secret: 'x' });
    t.after(() => wh.close());
    wh.failNext(10, 503);
    const { notifier, count } = notifierFor(t, [
      { type: 'webhook', webhook: wh.url, secret: 'x', retries: 2, retryBackoff: '10ms' },
    ]);
    notifier.emit(down());
    await until(() => count('webhook:failed') === 1);
    assert.equal(wh.received.length, 3);
    assert.equal(count('webhook:retried'), 2);
  });

  it('does not retry a refusal such as a wrong signature, and counts it as failed', async (t) => {
    const dt = await startDingTalkReceiver({ secret: 'SECright' });
    t.after(() => dt.close());
    const { notifier, count } = notifierFor(t, [
      { type: 'dingtalk', webhook: dt.url, secret: 'SECwrong', retryBackoff: '10ms' },
    ]);
    notifier.emit(down());
    // Counted failed only once every attempt is over: a retried refusal would have reached the robot again.
    await until(() => count('dingtalk:failed') === 1);
    assert.equal(dt.received.length, 1);
    assert.equal((dt.received[0]!.answer as { errcode: number }).errcode, 310000);
  });

  it("does not follow a receiver's redirect: the signed event never reaches the address it names", async (t) => {
    const inside = await startWebhookReceiver({ secret: 'x' });
    t.after(() => inside.close());
    const redirecting = createServer((req, res) => {
      req.resume();
      res.writeHead(307, { location: inside.url }).end();
    });
    redirecting.listen(0, '127.0.0.1');
    await once(redirecting, 'listening');
    t.after(() => redirecting.close());
    const { port } = redirecting.address() as AddressInfo;
    const { notifier, count } = notifierFor(t, [
      { type: 'webhook', webhook: `http://127.0.0.1:${port}/hook`, secret: 'x', retryBackoff: '10ms' },
    ]);
    notifier.emit(down());
    await until(() => count('webhook:failed') === 1);
    assert.equal(inside.received.length, 0);
    assert.match(notifier.stats()[0]!.lastError ?? '', /HTTP 307: redirects are not followed/);
  });

  it("reads a bounded part of a receiver's answer, so an endless answer still ends the delivery", async (t) => {
    const endless = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(16 * 1024, 'a');
      const more = () => {
        while (res.write(chunk));
      };
      res.on('drain', more);
      more();
    });
    endless.listen(0, '127.0.0.1');
    await once(endless, 'listening');
    t.after(() => {
      endless.closeAllConnections();
      endless.close();
    });
    const { port } = endless.address() as AddressInfo;
    const { notifier, count } = notifierFor(t, [
      { type: 'webhook', webhook: `http://127.0.0.1:${port}/hook`, secret: 'x', timeout: '30s' },
    ]);
    notifier.emit(down());
    await until(() => count('webhook:ok') === 1);
  });

  it('merges flapping: down, up, down, up within the window give one down and then one up', async (t) => {
    const dt = await startDingTalkReceiver({ secret: 's' });
    t.after(() => dt.close());
    const { notifier, count } = notifierFor(t, [
      { type: 'dingtalk', webhook: dt.url, secret: 's', dedupWindow: '500ms' },
    ]);
    notifier.emit(down());
    notifier.emit(up());
    notifier.emit(down());
    notifier.emit(up());
    await until(() => dt.received.length === 1);
    // The point: for a while inside the 500 ms window nothing more is sent (no event marks "not sent").
    await sleep(100);
    assert.equal(dt.received.length, 1, 'the changes inside the window wait');
    await until(() => dt.received.length === 2, 2000);
    const titles = dt.accepted().map((b) => (b as { markdown: { title: string; text: string } }).markdown);
    assert.deepEqual(
      titles.map((m) => m.title),
      ['【故障】上游服务不可达：ai', '【恢复】上游服务已恢复：ai'],
    );
    assert.match(titles[1]!.text, /期间状态变化 3 次，已合并通知/);
    assert.equal(count('dingtalk:suppressed'), 2);
  });

  it('suppresses the same news repeated within the window, and drops a flap that ends where it began', async (t) => {
    const wh = await startWebhookReceiver({ secret: 'x' });
    t.after(() => wh.close());
    const { notifier, count } = notifierFor(t, [
      { type: 'webhook', webhook: wh.url, secret: 'x', dedupWindow: '200ms' },
    ]);
    notifier.emit(down());
    notifier.emit(down());
    notifier.emit(up());
    notifier.emit(down());
    notifier.emit(admin(1));
    notifier.emit(admin(1));
    notifier.emit(admin(2));
    // The flap is dropped, and counted, when its window closes.
    await until(() => count('webhook:suppressed') === 4 && wh.received.length === 3, 2000);
    const events = wh.accepted().map((b) => `${b.event}:${(b.data as { action?: string }).action ?? ''}`);
    assert.deepEqual(events, [
      'upstream.down:',
      'admin.change:config.deploy #1',
      'admin.change:config.deploy #2',
    ]);
    assert.equal(count('webhook:suppressed'), 4);
  });

  it('never sends a DingTalk robot more than 20 messages a minute', async (t) => {
    const dt = await startDingTalkReceiver({ secret: 's' });
    t.after(() => dt.close());
    const { notifier } = notifierFor(t, [{ type: 'dingtalk', webhook: dt.url, secret: 's' }]);
    for (let i = 0; i < 23; i++) notifier.emit(admin(i));
    await until(() => dt.received.length === 20);
    // The point: the 21st is held back, so nothing more arrives for a while (no event marks "not sent").
    await sleep(200);
    assert.equal(dt.received.length, 20);
    assert.equal(dt.rejected().length, 0, 'no "send too fast"');
    assert.equal(notifier.stats()[0]!.queued, 3);
  });

  it('paces a rate limit over several windows (Feishu: 100 a minute and 5 a second)', () => {
    let now = 0;
    const limiter = createRateLimiter(
      [
        { count: 100, perMs: 60_000 },
        { count: 5, perMs: 1000 },
      ],
      () => now,
    );
    const sentAt: number[] = [];
    while (sentAt.length < 110) {
      const wait = limiter.delay();
      if (wait > 0) now += wait;
      else {
        limiter.record();
        sentAt.push(now);
      }
    }
    for (let i = 5; i < sentAt.length; i++) assert.ok(sentAt[i]! - sentAt[i - 5]! >= 1000);
    for (let i = 100; i < sentAt.length; i++) assert.ok(sentAt[i]! - sentAt[i - 100]! >= 60_000);
  });

  it('sends a sink only the events it lists', async (t) => {
    const sl = await startSlackReceiver();
    const wh = await startWebhookReceiver({ secret: 'x' });
    t.after(() => Promise.all([sl.close(), wh.close()]));
    const { notifier } = notifierFor(t, [
      { type: 'slack', webhook: sl.url, events: ['upstream.down', 'upstream.up'] },
      { type: 'webhook', webhook: wh.url, secret: 'x' },
    ]);
    notifier.emit(admin(1));
    notifier.emit(down());
    // Each sink delivers in order: had the admin change gone to Slack, it would be Slack's first message.
    await until(() => wh.received.length === 2 && sl.received.length === 1);
    assert.equal(sl.received.length, 1);
    assert.match(String(sl.accepted()[0]!.text), /上游服务不可达/);
  });

  it('returns from emit at once and delivers in the background', async (t) => {
    const dt = await startDingTalkReceiver({ secret: 's' });
    t.after(() => dt.close());
    const { notifier } = notifierFor(t, [{ type: 'dingtalk', webhook: dt.url, secret: 's' }]);
    const started = performance.now();
    notifier.emit(down());
    assert.ok(performance.now() - started < 5);
    assert.equal(dt.received.length, 0);
    await until(() => dt.received.length === 1);
  });
});
