import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import express from 'express';
import { operations } from '../../gateway/ops/operations.ts';
import { scrubEvent } from '../../gateway/ops/sentry/scrub.ts';
import type { FeatureFactory } from '../../gateway/server.ts';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { startSentryReceiver } from '../helpers/receivers.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { until } from '../helpers/eventually.ts';

/** Fails the way a broken stage does, and reports it as the gateway's error answer does. */
const failing: FeatureFactory = (fc) => {
  const router = express.Router();
  router.get('/boom', (req, res) => {
    const err = new Error(
      'cannot read session: password=hunter2 for Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig',
    );
    fc.services.errors.report(err, {
      requestId: String(req.headers['x-request-id']),
      routeId: 'ai',
      req: req as unknown as IncomingMessage,
    });
    res.status(500).json({ error: 'PORTICO_ERR_INTERNAL' });
  });
  return { name: 'failing', routers: [router] };
};

const SECRETS = [
  's3ss10n-cookie-value',
  'top-secret-bearer',
  'hunter2',
  'refresh-me',
  'eyJhbGciOiJIUzI1NiJ9',
];

describe('Sentry', () => {
  it('receives an unexpected error with its request id and route, and nothing secret', async (t) => {
    const sentry = await startSentryReceiver();
    t.after(() => sentry.close());
    const gw = await startGateway(
      t,
      'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\nsentry: { dsn: "${SENTRY_DSN}", environment: test, release: portico@test }\n',
      { env: { SENTRY_DSN: sentry.dsn }, features: [operations, failing] },
    );
    const r = await send(gw.url, '/_portico/boom?token=refresh-me&page=2', {
      headers: {
        'x-request-id': 'req-4711',
        cookie: 'portico_session=s3ss10n-cookie-value',
        authorization: 'Bearer top-secret-bearer',
        'user-agent': 'test-agent',
      },
    });
    assert.equal(r.status, 500);
    await until(
      () => sentry.envelopes().some((e) => e.items.some((i) => i.header.type === 'event')),
      5000,
      'an event',
    );
    assert.equal(sentry.rejected().length, 0);
    const envelope = sentry.envelopes().find((e) => e.items.some((i) => i.header.type === 'event'))!;
    const event = envelope.items.find((i) => i.header.type === 'event')!.payload as {
      tags: Record<string, string>;
      environment: string;
      release: string;
      request: { method: string; url: string; query_string: string; headers: Record<string, string> };
      exception: { values: { type: string; value: string }[] };
    };
    assert.equal(event.tags.request_id, 'req-4711');
    assert.equal(event.tags.route, 'ai');
    assert.equal(event.environment, 'test');
    assert.equal(event.release, 'portico@test');
    assert.equal(event.request.method, 'GET');
    assert.equal(event.request.headers['user-agent'], 'test-agent');
    assert.equal(event.request.headers.cookie, '[redacted]');
    assert.equal(event.request.headers.authorization, '[redacted]');
    assert.match(event.request.query_string, /page=2/);
    assert.match(event.exception.values[0]!.value, /password=\[redacted\] for Bearer \[redacted\]/);
    for (const secret of SECRETS)
      assert.ok(!envelope.raw.includes(secret), `"${secret}" must not reach Sentry`);
  });

  it('does nothing without a DSN', async (t) => {
    const gw = await startGateway(
      t,
      'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\nsentry: { dsn: "${SENTRY_DSN:-}" }\n',
      {
        features: [operations, failing],
      },
    );
    assert.equal((await send(gw.url, '/_portico/boom', { headers: { 'x-request-id': 'r1' } })).status, 500);
  });

  it('sends a transaction per request when tracesSampleRate is set, named by the route and never the raw path', async (t) => {
    const sentry = await startSentryReceiver();
    t.after(() => sentry.close());
    const upstream = await upstreamFor(t, { handler: (_q, s) => s.end('ok') });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /dce5/, upstream: "${upstream.url}" }\nsentry: { dsn: "\${SENTRY_DSN}", environment: test, tracesSampleRate: 1 }\n`,
      { env: { SENTRY_DSN: sentry.dsn }, features: [operations] },
    );
    const transactions = () =>
      sentry
        .envelopes()
        .flatMap((e) => e.items.filter((i) => i.header.type === 'transaction').map((i) => ({ e, i })));
    // The SDK starts in the background: the first requests may come before it is ready.
    await until(
      async () => {
        const r = await send(gw.url, '/dce5/users/42?token=top-secret-bearer');
        assert.equal(r.status, 200);
        return transactions().length > 0;
      },
      10_000,
      'a transaction envelope',
      100,
    );
    const { e, i } = transactions()[0]!;
    const tx = i.payload as {
      transaction: string;
      type: string;
      start_timestamp: number;
      timestamp: number;
      environment: string;
      contexts: { trace: { op: string; status: string; data: Record<string, unknown> } };
    };
    assert.equal(tx.type, 'transaction');
    assert.equal(tx.transaction, 'GET /dce5/');
    assert.equal(tx.environment, 'test');
    assert.equal(tx.contexts.trace.op, 'http.server');
    assert.equal(tx.contexts.trace.status, 'ok');
    assert.equal(tx.contexts.trace.data['http.response.status_code'], 200);
    assert.equal(tx.contexts.trace.data['portico.route'], 'ai');
    assert.ok(tx.timestamp >= tx.start_timestamp && tx.timestamp - tx.start_timestamp < 10);
    assert.ok(!e.raw.includes('/users/42') && !e.raw.includes('top-secret-bearer'), e.raw);
  });

  it('sends no transaction without tracesSampleRate', async (t) => {
    const sentry = await startSentryReceiver();
    t.after(() => sentry.close());
    const gw = await startGateway(
      t,
      'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\nsentry: { dsn: "${SENTRY_DSN}" }\n',
      { env: { SENTRY_DSN: sentry.dsn }, features: [operations, failing] },
    );
    for (let i = 0; i < 5; i++) await send(gw.url, '/x');
    // An error goes out after the requests: had they made transactions, those would be there too.
    await until(
      async () => {
        await send(gw.url, '/_portico/boom', { headers: { 'x-request-id': 'r-after' } });
        return sentry.envelopes().some((e) => e.items.some((i) => i.header.type === 'event'));
      },
      10_000,
      'an error event',
      100,
    );
    assert.deepEqual(
      sentry
        .envelopes()
        .flatMap((e) => e.items.map((i) => i.header.type))
        .filter((type) => type !== 'event' && type !== 'client_report'),
      [],
    );
  });
});

describe('what Sentry is sent', () => {
  it('masks SAML messages, CAS tickets and PKCE verifiers in the query, and passwords in URLs of error texts', () => {
    const event = scrubEvent({
      type: undefined,
      request: {
        url: 'https://portal.example.com/_portico/saml/corp/acs?SAMLResponse=PHNhbWw&RelayState=%2Fdce5%2F',
        query_string: 'SAMLart=AAQAAMh&ticket=ST-1-abc&code_verifier=v3r1f13r&page=2',
      },
      message: 'connect to redis://:p@ssw0rdTAIL@redis.internal:6379 failed',
      exception: { values: [{ type: 'Error', value: 'ECONNREFUSED redis://default:hunter2@10.0.0.5:6379' }] },
    });
    const sent = JSON.stringify(event);
    for (const secret of ['PHNhbWw', 'dce5', 'AAQAAMh', 'ST-1-abc', 'v3r1f13r', 'ssw0rdTAIL', 'hunter2'])
      assert.ok(!sent.includes(secret), `${secret} in ${sent}`);
    assert.match(sent, /page=2/);
    assert.match(sent, /redis\.internal:6379/);
  });
});
