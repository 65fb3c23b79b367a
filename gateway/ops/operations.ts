import { hostname } from 'node:os';
import type {
  AuditConfig,
  HealthConfig,
  MetricsConfig,
  NotificationSinkConfig,
  SentryConfig,
} from '../config/opsSchema.ts';
import type { Config, ServerGroup } from '../config/types.ts';
import type { Feature, FeatureFactory } from '../server.ts';
import type { NewEvent } from '../notify/events.ts';
import { createFailureBurstDetector } from '../notify/failureBurst.ts';
import { createNotifier, fingerprintOf } from '../notify/notifier.ts';
import { redactSecrets } from './audit/redact.ts';
import {
  AUDIT_TYPES,
  type AuditEntry,
  type AuditLog,
  type AuditType,
  createAuditLog,
} from './audit/auditLog.ts';
import { startUpstreamMonitor } from './health/upstreamMonitor.ts';
import { startUptimeKuma } from './health/uptimeKuma.ts';
import { routerOnFirstRequest } from '../endpoints/routerOnFirstRequest.ts';
import { metricsRouter, startMetricsListener, type MetricsListener } from './metrics/endpoint.ts';
import { deferredMetrics } from './metrics/deferredMetrics.ts';
import { redisUpGauge } from './metrics/redisUp.ts';
import { subscribeMetrics } from './metrics/subscribe.ts';
import { whenQuiet } from '../observe/whenQuiet.ts';
import { startSentry, type SentryHandle } from './sentry/sentry.ts';

const section = <K extends 'metrics' | 'health' | 'sentry' | 'audit' | 'notifications'>(c: Config, key: K) =>
  c.raw[key] as
    | {
        metrics: MetricsConfig;
        health: HealthConfig;
        sentry: SentryConfig;
        audit: AuditConfig;
        notifications: NotificationSinkConfig[];
      }[K]
    | undefined;

type Payload = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

/**
 * Operations beside the core: Prometheus metrics (/_portico/metrics or a listener of its own),
 * active upstream health checks and Uptime Kuma heartbeats, chat-robot alerts, the audit log and
 * Sentry. Everything listens on the gateway's events and reads the live config; a
 * section that is absent is off (metrics are on unless `metrics.enabled: false`). A reload applies
 * new `notifications`, `health`, `audit` and `sentry` settings; `metrics.listen` needs a restart.
 */
export const operations: FeatureFactory = (fc): Feature => {
  const { log } = fc;
  const config = fc.config;
  let redisUp: { close(): void } | undefined;
  const stops: (() => void)[] = [];
  const metrics = deferredMetrics(
    (m) => {
      redisUp = redisUpGauge(m.registry, fc.services.store);
    },
    // Off the requests' way: the load holds the process for some tens of ms.
    () => stops.push(whenQuiet(fc.events, () => metrics.loaded(), { firstAfterMs: 0, tries: 30 })),
  );
  const unsubscribeMetrics = subscribeMetrics(metrics, config, fc.events);

  // Metrics endpoint(s).
  const listenAt = section(config(), 'metrics')?.listen;
  let listener: MetricsListener | undefined;
  if (listenAt && section(config(), 'metrics')?.enabled !== false)
    listener = startMetricsListener(metrics.loaded, listenAt, () => section(config(), 'metrics'), log);

  // Alerts.
  const source = () => config().publicUrl?.host ?? hostname();
  const notifier = createNotifier({
    sinks: () => section(config(), 'notifications'),
    source,
    log,
    count: (sink, result) => metrics.notifications.inc({ sink, result }),
  });
  const emit = (e: NewEvent) => notifier.emit(e);

  // Health: upstream checks feeding portico_upstream_up, alerts and Uptime Kuma.
  const monitor = startUpstreamMonitor({
    config,
    log,
    tlsOptions: (route, server) =>
      route.servers && server >= 0
        ? fc.services.upstreams.balancer(route as typeof route & { servers: ServerGroup }).endpoints[server]!
            .tlsOptions
        : fc.services.upstreams.endpoint(route).tlsOptions,
    onServer: (route, server, up) => fc.services.upstreams.checked(route, server, up),
    onState: (route, up) => {
      if (up === undefined) metrics.upstreamUp.remove({ route });
      else metrics.upstreamUp.set({ route }, up ? 1 : 0);
    },
    onCertificate: (route, expiresAt) => {
      if (expiresAt === undefined) metrics.upstreamCertificateExpiry.remove({ route });
      else metrics.upstreamCertificateExpiry.set({ route }, Math.floor(expiresAt / 1000));
    },
    onTransition: (t) => {
      const s = t.state;
      if (t.type === 'upstream.down')
        emit({
          type: 'upstream.down',
          subject: `upstream:${s.route}`,
          fingerprint: 'down',
          data: {
            route: s.route,
            upstream: s.upstream,
            error: s.error ?? 'unreachable',
            failures: s.consecutiveFailures,
          },
        });
      else
        emit({
          type: 'upstream.up',
          subject: `upstream:${s.route}`,
          fingerprint: 'up',
          data: { route: s.route, upstream: s.upstream, downtimeMs: t.downtimeMs },
        });
    },
  });
  const kuma = startUptimeKuma({
    settings: () => section(config(), 'health')?.uptimeKuma,
    states: () => monitor.states(),
    firstRound: monitor.firstRound,
    log,
  });

  // Audit log (re-opened when its settings change).
  let audit: AuditLog | undefined;
  let auditKey = '';
  const applyAudit = (atStart = false) => {
    const a = section(config(), 'audit');
    const key = JSON.stringify(a ? { file: a.file, stdout: a.stdout } : null);
    if (key === auditKey) return;
    // The new destination is opened before the old one is let go: one that cannot be opened (a
    // folder, no permission) at a reload leaves the trail where it was, with an error in the log,
    // instead of closed with every later line lost. The key stays the old one, so the next reload
    // tries again. At start there is nothing to keep: the gateway refuses to start.
    let next: AuditLog | undefined;
    try {
      next = a ? createAuditLog(a) : undefined;
    } catch (err) {
      if (atStart) throw err;
      log.error({ err, file: a?.file }, 'audit log not reopened: still writing to the previous destination');
      return;
    }
    audit?.close();
    audit = next;
    auditKey = key;
  };
  applyAudit(true);
  const writeAudit = (entry: AuditEntry) => {
    try {
      audit?.write(entry);
    } catch (err) {
      log.warn({ err }, 'audit line not written');
    }
  };

  // Sentry (restarted when its settings change).
  let sentry: SentryHandle | undefined;
  let sentryKey = '';
  let sentryChain: Promise<unknown> = Promise.resolve();
  const applySentry = () => {
    const s = section(config(), 'sentry');
    const key = JSON.stringify(s?.dsn ? s : null);
    if (key === sentryKey) return;
    sentryKey = key;
    const previous = sentry;
    sentry = undefined;
    sentryChain = sentryChain
      .then(() => previous?.close())
      .then(() => {
        if (s?.dsn) sentry = startSentry(s, log, fc.services.errors, fc.events);
        return sentry?.ready;
      })
      .catch((err) => log.warn({ err }, 'Sentry restart failed'));
  };
  applySentry();

  const bursts = createFailureBurstDetector(
    () => section(config(), 'audit')?.loginFailureBurst,
    (data) => emit({ type: 'auth.failure_burst', subject: 'auth', fingerprint: 'burst', data }),
  );

  stops.push(
    fc.events.on('configReload', (e) => {
      if (e.ok) {
        // Each step on its own: one that throws must not skip the others, nor the reload's own
        // audit line and notification (the event bus would only log the throw as a warning).
        for (const [step, apply] of [
          ['notifications', () => notifier.reconfigure()],
          ['audit', () => applyAudit()],
          ['sentry', () => applySentry()],
        ] as const)
          try {
            apply();
          } catch (err) {
            log.error({ err, step }, 'reloaded config not fully applied');
          }
        writeAudit({ type: 'config.reloaded', detail: { file: e.file, hash: e.hash?.slice(0, 12) } });
        emit({
          type: 'config.reloaded',
          subject: 'config',
          fingerprint: `reloaded:${e.hash ?? ''}`,
          data: { file: e.file, hash: e.hash, routes: config().routes.length },
        });
      } else {
        const problems = (e.problems ?? []).map((p) => ({ path: p.path, line: p.line, message: p.message }));
        writeAudit({
          type: 'config.rejected',
          result: 'failure',
          detail: { file: e.file, problems: problems.slice(0, 20) },
        });
        emit({
          type: 'config.rejected',
          subject: 'config',
          fingerprint: `rejected:${fingerprintOf(problems)}`,
          data: { file: e.file, problems },
        });
      }
    }),
  );
  stops.push(
    fc.events.on('login', (e) => {
      const success = e.result === 'success';
      writeAudit({
        type: success ? 'login.success' : 'login.failure',
        actor: str(e.user),
        ip: str(e.ip),
        idp: str(e.idp),
        result: str(e.result),
        detail: e.reason,
      });
      if (!success) bursts.record({ idp: str(e.idp), ip: str(e.ip), user: str(e.user) });
    }),
  );
  stops.push(
    fc.events.on('audit', (e) => {
      const type = AUDIT_TYPES.includes(e.type as AuditType) ? (e.type as AuditType) : undefined;
      if (!type) {
        log.debug({ type: e.type }, 'unknown audit event type');
        return;
      }
      const actor = str(e.actor) ?? str(e.user);
      writeAudit({
        type,
        actor,
        ip: str(e.ip),
        route: str(e.route),
        idp: str(e.idp),
        result: str(e.result),
        detail: e.detail,
      });
      if (type === 'admin.change') {
        const action =
          str(e.action) ??
          (typeof e.detail === 'string' ? e.detail : undefined) ??
          str((e.detail as Payload | undefined)?.action) ??
          'change';
        const detail =
          e.detail === undefined || typeof e.detail === 'string'
            ? undefined
            : JSON.stringify(redactSecrets(e.detail)).slice(0, 300);
        emit({
          type: 'admin.change',
          subject: `admin:${actor ?? '-'}`,
          data: { actor, action, ip: str(e.ip), detail },
        });
      }
    }),
  );

  return {
    name: 'operations',
    routers: [routerOnFirstRequest(() => metricsRouter(metrics.loaded, () => section(config(), 'metrics')))],
    async readiness() {
      const upstreams: Record<string, unknown> = {};
      const down: string[] = [];
      for (const s of monitor.states()) {
        // No upstream address here: /_portico/readyz is public, internal addresses stay internal.
        upstreams[s.route] = {
          up: s.up,
          since: s.since,
          checkedAt: s.checkedAt,
          latencyMs: s.latencyMs,
          ...(s.error ? { error: s.error } : {}),
        };
        if (s.up === false) down.push(s.route);
      }
      const metricsListening = listener ? listener.url() !== undefined : undefined;
      // A down upstream is reported, not fatal: pulling the gateway out of rotation would take
      // every other route down with it. Only a metrics listener that failed to bind is.
      const ok = metricsListening !== false;
      return {
        ok,
        upstreams,
        down,
        // Counts only: a chat robot's error answer (its whitelist, a token it echoes) is not for
        // a public endpoint; the log has it.
        notifications: notifier.stats().map(({ sink, queued, delivered, failed }) => ({
          sink,
          queued,
          delivered,
          failed,
        })),
        ...(kuma.lastPush() ? { uptimeKuma: kuma.lastPush() } : {}),
        ...(listener ? { metrics: { listening: metricsListening } } : {}),
        sentry: sentry !== undefined,
        audit: audit !== undefined,
      };
    },
    async close() {
      for (const stop of stops) stop();
      unsubscribeMetrics();
      redisUp?.close();
      monitor.close();
      kuma.close();
      await Promise.all([notifier.close(2000), listener?.close(), sentryChain.then(() => sentry?.close())]);
      audit?.close();
    },
  };
};
