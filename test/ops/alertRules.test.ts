// prometheus/alerts.yml may only use what Portico exports: every metric, label and label value
// in every expression is looked up in the /_portico/metrics of a running gateway that has a TLS
// upstream (the certificate metric), Redis sessions (portico_redis_up), a failed sign-in, a 5xx
// and a rejected reload. `promtool check rules` also runs when promtool is installed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { parser } from '@prometheus-io/lezer-promql';
import { parse } from 'yaml';
import { operations } from '../../gateway/ops/operations.ts';
import { makeCertificates } from '../helpers/certs.ts';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { parsePrometheus, type Sample } from '../helpers/receivers.ts';
import { startRedis } from '../helpers/redis.ts';
import { SESSION_SECRET } from '../helpers/sso.ts';
import { eventually } from '../helpers/eventually.ts';

const RULES_FILE = resolve(import.meta.dirname, '..', '..', 'prometheus', 'alerts.yml');
/** Series Prometheus makes itself for every target, and the labels it adds to every scraped one. */
const PROMETHEUS_SERIES = new Set(['up']);
const TARGET_LABELS = new Set(['job', 'instance']);

type Rule = { alert: string; expr: string; for?: string; labels?: Record<string, string> };
type Selector = { metric: string; matchers: { label: string; op: string; value: string }[] };
type Used = { selectors: Selector[]; groupingLabels: string[] };

function rules(): Rule[] {
  const doc = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

/** Every vector selector (metric, label matchers) and grouping label of a PromQL expression. */
function used(expr: string): Used {
  const tree = parser.parse(expr);
  const out: Used = { selectors: [], groupingLabels: [] };
  const text = (from: number, to: number) => expr.slice(from, to);
  const cursor = tree.cursor();
  do {
    assert.notEqual(cursor.name, '⚠', `a syntax error at ${cursor.from} in: ${expr}`);
    if (cursor.name === 'VectorSelector') {
      const node = cursor.node;
      const id = node.getChild('Identifier');
      const selector: Selector = { metric: id ? text(id.from, id.to) : '', matchers: [] };
      for (const m of node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
        const name = m.getChild('LabelName')!;
        const op = m.getChild('MatchOp')!;
        const value = m.getChild('StringLiteral')!;
        selector.matchers.push({
          label: text(name.from, name.to),
          op: text(op.from, op.to),
          value: JSON.parse(text(value.from, value.to)) as string,
        });
      }
      assert.ok(selector.metric, `a selector without a metric name in: ${expr}`);
      out.selectors.push(selector);
    }
    if (cursor.name === 'GroupingLabels')
      for (const l of cursor.node.getChildren('LabelName')) out.groupingLabels.push(text(l.from, l.to));
  } while (cursor.next());
  return out;
}

/** The names a scrape exposes: every `# TYPE`d metric, with the series names of histograms and summaries. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}

/** A gateway with everything the rules watch, and the text of its metrics once all of it shows. */
async function scrapeEverything(
  t: TestContext,
): Promise<{ text: string; samples: Sample[]; certFile: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-alerts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const certs = makeCertificates(dir, { cn: 'dce.internal', names: ['DNS:dce.internal'] });
  const tls = createServer({ key: readFileSync(certs.key), cert: readFileSync(certs.cert) }, (_q, s) =>
    s.end('ok'),
  );
  tls.listen(0, '127.0.0.1');
  await once(tls, 'listening');
  t.after(() => {
    tls.closeAllConnections();
    tls.close();
  });
  const redis = await startRedis(t);
  const gw = await startGateway(
    t,
    `publicUrl: http://127.0.0.1:1
session: { secret: ${SESSION_SECRET}, store: redis, redis: { url: "${redis.url}" } }
identityProviders:
  - { id: github, type: github, clientId: abc, clientSecret: def }
health: { interval: 100ms, timeout: 2s }
routes:
  - { id: dce, path: /dce5/, upstream: "https://127.0.0.1:${(tls.address() as AddressInfo).port}/", tls: { ca: "${certs.ca}", serverName: dce.internal } }
  - { id: gone, path: /gone/, upstream: "http://127.0.0.1:9/" }
`,
    { features: [operations] },
  );
  // A 5xx, a failed sign-in (a callback nobody started) and a rejected reload.
  assert.equal((await send(gw.url, '/gone/x', { headers: { accept: 'application/json' } })).status, 502);
  assert.equal((await send(gw.url, '/_portico/callback/github?code=x&state=forged')).status, 400);
  gw.write('routes: [ {');
  assert.equal(gw.gateway.reload().ok, false);

  // The health checks and the Redis probe report on their own schedule: scrape until they have.
  const has = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
    samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  const r = await eventually(
    () => send(gw.url, '/_portico/metrics'),
    (r) => {
      const samples = parsePrometheus(r.text);
      return (
        has(samples, 'portico_upstream_tls_cert_expiry_timestamp_seconds', { route: 'dce' }) &&
        has(samples, 'portico_redis_up') &&
        has(samples, 'portico_upstream_up', { route: 'dce' })
      );
    },
    { timeoutMs: 15_000, intervalMs: 100 },
  );
  assert.equal(r.status, 200);
  const samples = parsePrometheus(r.text);
  assert.ok(
    has(samples, 'portico_upstream_up', { route: 'dce' }) && has(samples, 'portico_redis_up'),
    `the health and Redis metrics did not appear:\n${r.text}`,
  );
  assert.ok(has(samples, 'portico_upstream_tls_cert_expiry_timestamp_seconds', { route: 'dce' }), r.text);
  return { text: r.text, samples, certFile: certs.cert };
}

describe('prometheus/alerts.yml', () => {
  it('uses only metrics, labels and label values that a running Portico exports', async (t) => {
    const { text, samples } = await scrapeEverything(t);
    const names = exportedNames(text);
    const all = rules();
    assert.ok(all.length >= 6, 'the rules file has its alerts');
    for (const rule of all) {
      const u = used(rule.expr);
      assert.ok(u.selectors.length > 0, `${rule.alert}: no metric`);
      for (const s of u.selectors) {
        if (PROMETHEUS_SERIES.has(s.metric)) continue;
        assert.ok(names.has(s.metric), `${rule.alert}: ${s.metric} is not exported`);
        const series = samples.filter((x) => x.name === s.metric);
        assert.ok(series.length > 0, `${rule.alert}: ${s.metric} has no series to check its labels against`);
        for (const m of s.matchers) {
          if (TARGET_LABELS.has(m.label)) continue;
          assert.ok(
            series.some((x) => m.label in x.labels),
            `${rule.alert}: ${s.metric} has no label ${m.label}`,
          );
          if (m.op === '=')
            assert.ok(
              series.some((x) => x.labels[m.label] === m.value),
              `${rule.alert}: no ${s.metric}{${m.label}="${m.value}"} after the events that make it`,
            );
        }
        for (const label of u.groupingLabels.filter((l) => !TARGET_LABELS.has(l)))
          assert.ok(
            series.some((x) => label in x.labels),
            `${rule.alert}: grouped by ${label}, which ${s.metric} does not have`,
          );
      }
      assert.match(String(rule.labels?.severity), /^(warning|critical)$/, rule.alert);
    }
  });

  it('reads the upstream certificate expiry from the TLS handshake of the health checks', async (t) => {
    const { samples, certFile } = await scrapeEverything(t);
    const expiry = samples.find(
      (s) => s.name === 'portico_upstream_tls_cert_expiry_timestamp_seconds' && s.labels.route === 'dce',
    );
    const notAfter = Date.parse(new X509Certificate(readFileSync(certFile)).validTo) / 1000;
    assert.equal(expiry?.value, notAfter);
    assert.equal(
      samples.some(
        (s) => s.name === 'portico_upstream_tls_cert_expiry_timestamp_seconds' && s.labels.route === 'gone',
      ),
      false,
      'a plain-HTTP upstream has no certificate',
    );
    assert.equal(samples.find((s) => s.name === 'portico_redis_up')?.value, 1);
  });

  it('passes promtool check rules', (t) => {
    if (spawnSync('promtool', ['--version']).error)
      return t.skip('promtool is not installed (apt-get install prometheus)');
    const r = spawnSync('promtool', ['check', 'rules', RULES_FILE], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${rules().length} rules found`));
  });
});
