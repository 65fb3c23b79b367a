import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { NextFunction, Request, Response, Router } from 'express';
import type { AdminScope, RawAdminConfig } from '../config/adminSchema.ts';
import { ConfigError, type ConfigProblem, formatProblems, loadConfigText } from '../config/loadConfig.ts';
import type { Config } from '../config/types.ts';
import { clientOf } from '../proxy/forwardedHeaders.ts';
import { expressLibrary } from '../endpoints/expressLibrary.ts';
import type { FeatureContext } from '../server.ts';
import { BRAND_FILE, parseBrandText } from '../branding/loadBrand.ts';
import { NoUploadPlace, writableDiskAssets } from '../storage/brandAssets.ts';
import { StorageError } from '../storage/objectStore.ts';
import { AdminError, adminErrorHandler } from './adminErrors.ts';
import { type AdminFeatureOptions, notFound, type RevokeQuery } from './adminFeature.ts';
import { apiKeyMatches } from '../auth/apiKeys.ts';
import { checkAssetContent, uploadType } from './checkAssetContent.ts';
import { withDeployLock } from './deployLock.ts';
import { summarizeConfig } from './configSummary.ts';
import { maintenanceEndpoints } from './maintenanceEndpoints.ts';
import { createRateLimiter } from './rateLimit.ts';
import { redactConfigSource } from './redactConfig.ts';
import { configTarget, replaceConfigFile } from './replaceConfigFile.ts';

type Caller = { keyId: string; scopes: readonly string[]; ip: string };

const VERSION: string = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
).version;
const YAML_TYPES = ['text/yaml', 'application/yaml', 'application/x-yaml', 'text/x-yaml'];
const KEY_RE = /^ptk_[a-z0-9][a-z0-9-]{0,30}_[A-Za-z0-9_-]{20,100}$/;
/** Wrong keys of every id together may fail this many times the per-id limit in a minute. */
const FAILURES_ALL_IDS = 10;

const etagOf = (c: Config) => `"${c.sourceHash}"`;

/** The admin API's endpoints (adminFeature.ts), loaded with its first request. */
export function adminRouter(ctx: FeatureContext, options: AdminFeatureOptions, startedAt: Date): Router {
  const adminConfig = () => (ctx.config().raw.admin ?? {}) as RawAdminConfig;
  const requests = createRateLimiter();
  const failures = createRateLimiter();
  let tail: Promise<unknown> = Promise.resolve();
  /** One config change at a time: two deploys with the same ETag cannot both win. */
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => {});
    return run;
  };
  const audit = (res: Response, detail: Record<string, unknown>) => {
    const caller = res.locals.admin as Caller;
    ctx.events.emit('audit', {
      type: 'admin.change',
      actor: caller.keyId,
      ip: caller.ip,
      time: new Date().toISOString(),
      detail,
    });
  };
  const fileName = () => basename(ctx.configFile ?? 'routes.yaml');

  const validate = (text: string) => {
    try {
      return { ok: true as const, config: loadConfigText(text, { file: ctx.configFile, env: process.env }) };
    } catch (err) {
      if (err instanceof ConfigError) return { ok: false as const, error: err };
      throw err;
    }
  };
  const invalid = (error: ConfigError) => {
    const file = fileName();
    return new AdminError(
      'PORTICO_ERR_INVALID_CONFIG',
      `${file}: invalid, ${error.problems.length} error${error.problems.length === 1 ? '' : 's'}`,
      {
        extra: {
          valid: false,
          problems: error.problems.map(({ path, line, column, message }) => ({
            path,
            line,
            column,
            message,
          })),
          text: formatProblems(file, error.problems),
        },
      },
    );
  };

  const express = expressLibrary();
  const router = express.Router();
  router.use((_req, res, next) => {
    res.set({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    next();
  });

  // Who is calling. A valid key is recognised before any throttle and is limited only by its own
  // request rate: failures of others never lock it out, even when every caller shares the load
  // balancer's address. Wrong keys are throttled by the key id they present, and all together.
  router.use((req, res, next) => {
    const limits = adminConfig().rateLimit ?? {};
    const perMinute = limits.perMinute ?? 60;
    const failuresPerId = limits.failedAuthPerMinute ?? 10;
    const ip = clientIp(req, ctx.config());
    const tooMany = (seconds: number, message: string) =>
      new AdminError('PORTICO_ERR_TOO_MANY', message, { headers: { 'retry-after': String(seconds) } });

    const header = req.headers.authorization ?? '';
    const token = /^Bearer +(\S+)\s*$/i.exec(header)?.[1];
    // Every configured key is compared, with no early exit, so the time taken says nothing.
    let found: NonNullable<RawAdminConfig['apiKeys']>[number] | undefined;
    const wellFormed = token !== undefined && KEY_RE.test(token);
    for (const key of adminConfig().apiKeys ?? []) {
      if (apiKeyMatches(wellFormed ? token : '', key.hash) && wellFormed) found ??= key;
    }
    if (found) {
      const keyWait = requests.take(`key:${found.id}`, perMinute);
      if (keyWait) return next(tooMany(keyWait, 'Too many requests for this API key. Try again shortly.'));
      res.locals.admin = { keyId: found.id, scopes: found.scopes, ip } satisfies Caller;
      return next();
    }

    const presentedId = wellFormed ? token.split('_')[1]! : token ? '(malformed)' : '(none)';
    const failWait =
      failures.blocked('*', failuresPerId * FAILURES_ALL_IDS) ??
      failures.take(`id:${presentedId}`, failuresPerId);
    if (failWait) return next(tooMany(failWait, 'Too many failed authentication attempts. Try again later.'));
    failures.take('*', Number.POSITIVE_INFINITY);
    if (!token)
      return next(
        new AdminError('PORTICO_ERR_UNAUTHENTICATED', 'An API key is required: Authorization: Bearer ptk_…', {
          headers: { 'www-authenticate': 'Bearer realm="portico-admin"' },
        }),
      );
    ctx.events.emit('audit', { type: 'admin.auth_failure', ip, time: new Date().toISOString() });
    next(
      new AdminError('PORTICO_ERR_UNAUTHENTICATED', 'The API key is not valid.', {
        headers: { 'www-authenticate': 'Bearer realm="portico-admin", error="invalid_token"' },
      }),
    );
  });

  const need = (scope: AdminScope) => (_req: Request, res: Response, next: NextFunction) => {
    const caller = res.locals.admin as Caller;
    if (caller.scopes.includes(scope)) return next();
    next(
      new AdminError('PORTICO_ERR_FORBIDDEN', `The API key "${caller.keyId}" lacks the ${scope} scope.`, {
        extra: { required: scope },
      }),
    );
  };
  const yamlBody = [
    (req: Request, _res: Response, next: NextFunction) => {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!YAML_TYPES.includes(type))
        return next(
          new AdminError(
            'PORTICO_ERR_UNSUPPORTED_TYPE',
            'Send the config as Content-Type: application/yaml.',
          ),
        );
      next();
    },
    express.text({ type: () => true, limit: '1mb' }),
    (req: Request, _res: Response, next: NextFunction) => {
      if (typeof req.body !== 'string' || req.body.trim() === '')
        return next(new AdminError('PORTICO_ERR_BAD_REQUEST', 'The body must be the routes.yaml text.'));
      next();
    },
  ];

  router.get('/status', async (_req, res) => {
    const c = ctx.config();
    const caller = res.locals.admin as Caller;
    res.json({
      version: VERSION,
      node: process.version,
      startedAt: startedAt.toISOString(),
      uptimeSeconds: Math.round(process.uptime()),
      config: {
        file: ctx.configFile ? fileName() : undefined,
        hash: c.sourceHash,
        etag: etagOf(c),
        loadedAt: c.loadedAt.toISOString(),
        routes: c.routes.length,
      },
      replicas: options.replicas ? await options.replicas() : 'unknown',
      key: { id: caller.keyId, scopes: caller.scopes },
    });
  });

  router.get('/config', need('config:read'), (req, res) => {
    const c = ctx.config();
    const yaml = redactConfigSource(c.source);
    res.set('etag', etagOf(c));
    if (/\byaml\b/.test(req.headers.accept ?? '') && !/\bjson\b/.test(req.headers.accept ?? '')) {
      res.type('application/yaml').send(yaml);
      return;
    }
    res.json({
      file: ctx.configFile ? fileName() : undefined,
      hash: c.sourceHash,
      etag: etagOf(c),
      loadedAt: c.loadedAt.toISOString(),
      yaml,
    });
  });

  // Checked as `portico validate` checks a file in CI, without the serving environment: every
  // ${VAR} stands in as a placeholder and no file is looked at. With the gateway's own environment,
  // a reader could have `upstream: "http://x/${SESSION_SECRET}"` echoed back in the summary, and
  // learn which files the gateway can read. PUT (config:write) checks with the real environment.
  router.post('/config/validate', need('config:read'), ...yamlBody, (req, res) => {
    const placeholders: ConfigProblem[] = [];
    let config: Config;
    try {
      config = loadConfigText(req.body as string, {
        file: ctx.configFile,
        env: {},
        unsetEnv: placeholders,
        readFiles: false,
      });
    } catch (err) {
      if (err instanceof ConfigError) throw invalid(err);
      throw err;
    }
    res.json({
      valid: true,
      summary: summarizeConfig(config, fileName()),
      // What was not checked: the variables' values (the serving environment decides them).
      placeholders: placeholders.map(({ path, line, column, message }) => ({ path, line, column, message })),
    });
  });

  router.put('/config', need('config:write'), ...yamlBody, async (req, res) => {
    const file = ctx.configFile;
    if (!file)
      throw new AdminError(
        'PORTICO_ERR_CONFLICT',
        'This gateway was not started from a file; nothing to replace.',
      );
    const ifMatch = req.headers['if-match'];
    if (!ifMatch || ifMatch.trim() === '*')
      throw new AdminError(
        'PORTICO_ERR_PRECONDITION_REQUIRED',
        'Send If-Match with the ETag from GET /_portico/admin/config, so a deploy cannot overwrite a change it has not seen.',
      );
    const text = req.body as string;
    // A refused deploy is recorded too: its errors can echo what the serving environment holds
    // (PUT checks with the real ${VAR} values and files), so probing leaves a trace.
    const refused = (err: unknown) => {
      if (err instanceof AdminError)
        audit(res, { action: 'config.refused', file: fileName(), code: err.code });
      throw err;
    };
    const outcome = await serially(async () => {
      // A file the API cannot replace (a ConfigMap mount, a FIFO) is refused before the lock,
      // which would be made beside it.
      await configTarget(file);
      return withDeployLock(file, async (diskEtag) => {
        const before = ctx.config();
        const tags = ifMatch.split(',').map((s) => s.trim());
        // The file on disk is the truth: another worker or gateway may have replaced it already.
        if (!tags.includes(diskEtag) || !tags.includes(etagOf(before)))
          throw new AdminError(
            'PORTICO_ERR_PRECONDITION_FAILED',
            'The config changed since you read it (ETag mismatch). Read it again and retry.',
            { headers: { etag: diskEtag }, extra: { etag: diskEtag } },
          );
        const checked = validate(text);
        if (!checked.ok) throw invalid(checked.error);
        const r = await replaceConfigFile(file, text, ctx.reload, adminConfig().backups ?? 5);
        if (!r.ok) throw invalid(r.error);
        return { before, after: r.config, backup: r.backup, restartNeeded: r.restartNeeded };
      });
    }).catch(refused);
    audit(res, {
      action: 'config.replace',
      file: fileName(),
      from: outcome.before.sourceHash,
      to: outcome.after.sourceHash,
      backup: outcome.backup,
    });
    res.set('etag', etagOf(outcome.after)).json({
      ok: true,
      hash: outcome.after.sourceHash,
      etag: etagOf(outcome.after),
      backup: outcome.backup,
      // Keys the new file changes that only a restart applies: the running values stay until then.
      restartNeeded: outcome.restartNeeded,
      summary: summarizeConfig(outcome.after, fileName()),
    });
  });

  router.put(
    '/branding/assets/:name',
    need('branding:write'),
    express.raw({ type: () => true, limit: '2mb' }),
    async (req, res) => {
      const name = String(req.params.name);
      const contentType = uploadType(name);
      if (!contentType)
        throw new AdminError(
          'PORTICO_ERR_INVALID_ASSET',
          `Asset names are ${BRAND_FILE} or lower-case letters, digits, ".", "-" and "_" ending in .svg, .png, .ico, .css or .webp.`,
        );
      const body = req.body as unknown;
      if (!Buffer.isBuffer(body) || body.length === 0)
        throw new AdminError('PORTICO_ERR_BAD_REQUEST', 'The body must be the file.');
      const problem = checkAssetContent(name, body);
      if (problem) throw new AdminError('PORTICO_ERR_INVALID_ASSET', problem);
      if (name === BRAND_FILE) {
        try {
          parseBrandText(body.toString('utf8'));
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          throw new AdminError('PORTICO_ERR_INVALID_ASSET', `${BRAND_FILE}: invalid`, {
            extra: { problems: err.problems, text: formatProblems(BRAND_FILE, err.problems) },
          });
        }
      }
      if (!options.branding)
        throw new AdminError(
          'PORTICO_ERR_NOT_IMPLEMENTED',
          'Brand asset uploads are not enabled on this gateway.',
        );
      const given = options.branding.source;
      const target = given ? ('put' in given ? given : undefined) : writableDiskAssets(options.branding.dir);
      if (!target)
        throw new AdminError(
          'PORTICO_ERR_NOT_IMPLEMENTED',
          `The brand asset source ${given!.label} is read-only.`,
        );
      let asset: { etag: string };
      try {
        asset = await target.put(name, body);
      } catch (err) {
        if (err instanceof NoUploadPlace)
          throw new AdminError('PORTICO_ERR_CONFLICT', err.message, { cause: err });
        if (err instanceof StorageError)
          throw new AdminError(
            'PORTICO_ERR_UNAVAILABLE',
            `Object storage could not store the asset: ${err.code}.`,
            {
              cause: err,
            },
          );
        throw err;
      }
      audit(res, { action: 'branding.asset', name, bytes: body.length, etag: asset.etag });
      res.json({ ok: true, name, bytes: body.length, contentType, etag: asset.etag });
    },
  );

  router.post(
    '/sessions/revoke',
    need('sessions:revoke'),
    express.json({ limit: '16kb' }),
    async (req, res) => {
      const revokeUserSessions = options.revokeUserSessions ?? ctx.revokeSessions;
      if (!revokeUserSessions)
        throw new AdminError(
          'PORTICO_ERR_NOT_IMPLEMENTED',
          'Session revocation is not wired on this gateway.',
        );
      const body = req.body as unknown;
      if (!body || typeof body !== 'object' || Array.isArray(body))
        throw new AdminError('PORTICO_ERR_BAD_REQUEST', 'Send JSON: { "idp"?, "sub"?, "username"? }.');
      const q: RevokeQuery = {};
      for (const [k, v] of Object.entries(body)) {
        if (k !== 'idp' && k !== 'sub' && k !== 'username')
          throw new AdminError('PORTICO_ERR_BAD_REQUEST', `Unknown field "${k}".`);
        if (typeof v !== 'string' || v === '')
          throw new AdminError('PORTICO_ERR_BAD_REQUEST', `"${k}" must be a non-empty string.`);
        q[k] = v;
      }
      if (!q.sub && !q.username)
        throw new AdminError(
          'PORTICO_ERR_BAD_REQUEST',
          'Name the user: "sub" or "username" (and "idp" to narrow it).',
        );
      // A subject is only unique within its identity provider.
      if (q.sub && !q.idp)
        throw new AdminError(
          'PORTICO_ERR_BAD_REQUEST',
          '"sub" needs "idp": a subject is unique only within its provider.',
        );
      // Sessions are indexed by the name Portico uses: users of providers other than the primary
      // one are `<idp>:<name>`. {idp: directory, username: alice} means directory:alice, never the
      // primary provider's alice.
      if (q.username && q.idp && q.idp !== ctx.config().primaryIdp && !q.username.startsWith(`${q.idp}:`))
        q.username = `${q.idp}:${q.username}`;
      const revoked = await revokeUserSessions(q);
      audit(res, { action: 'sessions.revoke', ...q, revoked });
      res.json({ revoked });
    },
  );

  maintenanceEndpoints(ctx, router, need('routes:maintenance'), audit);

  router.use(notFound);
  router.use(adminErrorHandler(ctx.log));
  return router;
}

/** The caller's address, believing X-Forwarded-For only from `trustProxy` peers, as the proxy does. */
function clientIp(req: Request, config: Config): string {
  return clientOf(req, config.trustProxy).clientIp;
}
