import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { operations } from '../../gateway/ops/operations.ts';
import { startGateway } from '../helpers/gateway.ts';
import { startDingTalkReceiver, startWebhookReceiver } from '../helpers/receivers.ts';
import { GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, startSlapd } from '../helpers/slapd.ts';
import { freePort, GatewayClient, SESSION_SECRET } from '../helpers/sso.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { until } from '../helpers/eventually.ts';

const routes = (upstream: string) => `routes:\n  - { id: app, path: /, upstream: "${upstream}" }\n`;

describe('alerts from gateway events', () => {
  it('announces a reloaded config and a rejected one with its errors', async (t) => {
    const app = await startUpstream();
    const wh = await startWebhookReceiver({ secret: 'hook-secret' });
    t.after(() => Promise.all([app.close(), wh.close()]));
    const yaml = `${routes(app.url)}notifications:\n  - { type: webhook, webhook: "${wh.url}", secret: \${HOOK_SECRET}, dedupWindow: 0s, lang: en-US }\n`;
    const gw = await startGateway(t, yaml, { env: { HOOK_SECRET: 'hook-secret' }, features: [operations] });
    gw.write(`${yaml}# changed\n`);
    assert.equal(gw.gateway.reload().ok, true);
    gw.write(`${yaml}routes: nope\n`);
    assert.equal(gw.gateway.reload().ok, false);
    await until(() => wh.received.length === 2);
    assert.equal(wh.rejected().length, 0);
    const [reloaded, rejected] = wh.accepted() as {
      event: string;
      title: string;
      text: string;
      data: Record<string, unknown>;
    }[];
    assert.equal(reloaded!.event, 'config.reloaded');
    assert.equal(reloaded!.data.routes, 1);
    assert.equal(rejected!.event, 'config.rejected');
    assert.match(rejected!.title, /CONFIG REJECTED/);
    assert.match(rejected!.text, /1 problem:\nL\d+ /);
  });

  it('sends a signed DingTalk alert for an admin change, without the secrets in its detail', async (t) => {
    const app = await startUpstream();
    const dt = await startDingTalkReceiver({ secret: 'SECadmin' });
    t.after(() => Promise.all([app.close(), dt.close()]));
    const yaml = `${routes(app.url)}notifications:\n  - { type: dingtalk, webhook: "${dt.url}", secret: \${DT_SECRET}, events: [admin.change] }\n`;
    const gw = await startGateway(t, yaml, { env: { DT_SECRET: 'SECadmin' }, features: [operations] });
    gw.gateway.events.emit('audit', {
      type: 'admin.change',
      actor: 'ci',
      ip: '10.0.0.9',
      detail: { action: 'config.deploy', etag: 'abc', token: 'do-not-send' },
    });
    gw.gateway.events.emit('audit', { type: 'logout', actor: 'alice' });
    await until(() => dt.received.length === 1);
    // The point: the logout after it sends nothing (no event marks "not sent").
    await sleep(50);
    assert.equal(dt.received.length, 1);
    assert.equal(dt.rejected().length, 0);
    const md = (dt.accepted()[0] as { markdown: { title: string; text: string } }).markdown;
    assert.equal(md.title, '管理变更：config.deploy');
    assert.match(md.text, /\*\*操作人\*\*：ci/);
    assert.doesNotMatch(md.text, /do-not-send/);
  });

  it('raises one auth.failure_burst when failed logins pass the threshold within the window', async (t) => {
    const app = await startUpstream();
    const wh = await startWebhookReceiver({ secret: 's' });
    t.after(() => Promise.all([app.close(), wh.close()]));
    const yaml =
      `${routes(app.url)}audit: { stdout: false, file: /dev/null, loginFailureBurst: { threshold: 5, window: 1m } }\n` +
      `notifications:\n  - { type: webhook, webhook: "${wh.url}", secret: s }\n`;
    const gw = await startGateway(t, yaml, { features: [operations] });
    for (let i = 0; i < 4; i++)
      gw.gateway.events.emit('login', { idp: 'corp', result: 'failure', user: 'bob', ip: '203.0.113.7' });
    gw.gateway.events.emit('login', { idp: 'corp', result: 'success', user: 'alice', ip: '203.0.113.8' });
    // The point: four failures send nothing (no event marks "not sent").
    await sleep(50);
    assert.equal(wh.received.length, 0, 'four failures are not a burst');
    for (let i = 0; i < 6; i++)
      gw.gateway.events.emit('login', { idp: 'corp', result: 'failure', user: `u${i}`, ip: '198.51.100.1' });
    await until(() => wh.received.length === 1);
    // The point: the failures after the alert send no second one within the window.
    await sleep(50);
    assert.equal(wh.received.length, 1, 'one alert per window');
    const body = wh.accepted()[0] as { event: string; data: { count: number; ips: string[] } };
    assert.equal(body.event, 'auth.failure_burst');
    assert.equal(body.data.count, 5);
    assert.deepEqual(body.data.ips, ['203.0.113.7 ×4', '198.51.100.1']);
  });

  it('lists the user names typed at the sign-in form in the burst alert, as unverified text', async (t) => {
    const app = await startUpstream();
    const wh = await startWebhookReceiver({ secret: 's' });
    const dt = await startDingTalkReceiver({ secret: 'SECburst' });
    t.after(() => Promise.all([app.close(), wh.close(), dt.close()]));
    const ldap = await startSlapd(t);
    const port = await freePort();
    const yaml = `publicUrl: http://127.0.0.1:${port}
session: { secret: ${SESSION_SECRET} }
identityProviders:
  - id: corp
    type: ldap
    name: Corporate directory
    url: "${ldap.url}"
    bindDn: "${SERVICE_DN}"
    bindPassword: \${LDAP_BIND_PASSWORD}
    userBase: "${PEOPLE}"
    groupBase: "${GROUPS}"
    throttle: { maxPerUser: 100, maxPerIp: 100 }
routes:
  - { id: app, path: /, upstream: "${app.url}", auth: required }
audit: { stdout: false, file: /dev/null, loginFailureBurst: { threshold: 6, window: 1m } }
notifications:
  - { type: webhook, webhook: "${wh.url}", secret: s, lang: en-US }
  - { type: dingtalk, webhook: "${dt.url}", secret: SECburst, events: [auth.failure_burst] }
`;
    const gw = await startGateway(t, yaml, {
      port,
      env: { LDAP_BIND_PASSWORD: SERVICE_PASSWORD },
      features: [operations],
    });
    const client = new GatewayClient(gw.url);
    const tryLogin = async (username: string, password: string) => {
      const form = await client.request('/_portico/login/corp?rd=%2F');
      const csrf = /name="csrf" value="([^"]+)"/.exec(form.text)?.[1];
      assert.ok(csrf, form.text);
      const r = await client.request('/_portico/login/corp', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username, password, csrf, rd: '/' }).toString(),
      });
      assert.equal(r.status, 401);
    };
    const evil = '[Click](https://evil.example/x)\n**Recovered** <!channel>';
    for (let i = 0; i < 3; i++) await tryLogin('mallory', 'guess');
    await tryLogin(' alice ', 'not-her-password');
    await tryLogin(evil, 'x');
    await tryLogin('x'.repeat(300), 'x');
    await until(() => wh.received.length === 1 && dt.received.length === 1);
    assert.equal(wh.rejected().length + dt.rejected().length, 0);
    const body = wh.accepted()[0] as {
      event: string;
      text: string;
      data: { count: number; users: string[] };
    };
    assert.equal(body.event, 'auth.failure_burst');
    assert.equal(body.data.count, 6);
    // As typed (trimmed as the directory reads it), a line break made visible, cut to 64 characters.
    assert.deepEqual(body.data.users, [
      'mallory ×3',
      'alice',
      evil.replace('\n', '\uFFFD'),
      `${'x'.repeat(63)}…`,
    ]);
    assert.match(body.text, /User names tried \(unverified\): mallory ×3, alice, /);
    // In the chat message, the typed text is text: no link, no formatting, no mention.
    const md = (dt.accepted()[0] as { markdown: { text: string } }).markdown.text;
    assert.match(md, /\*\*尝试的用户名（未验证）\*\*：mallory ×3, alice, /);
    assert.doesNotMatch(md, /https:\/\/evil|\[Click\]\(|<!channel>|\*\*Recovered/);
  });

  it('starts sending to a sink added by a reload, beginning with that reload', async (t) => {
    const app = await startUpstream();
    const wh = await startWebhookReceiver({ secret: 's' });
    t.after(() => Promise.all([app.close(), wh.close()]));
    const gw = await startGateway(t, routes(app.url), { features: [operations] });
    gw.write(`${routes(app.url)}notifications:\n  - { type: webhook, webhook: "${wh.url}", secret: s }\n`);
    assert.equal(gw.gateway.reload().ok, true);
    await until(() => wh.received.length === 1);
    assert.equal((wh.accepted()[0] as { event: string }).event, 'config.reloaded');
  });
});
