import type { Cluster } from 'node:cluster';
import { flushCompileCache } from 'node:module';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { compileConfig } from './config/compile.ts';
import { ConfigError, type ConfigProblem, formatProblems, loadConfigFile } from './config/loadConfig.ts';
import type { Config } from './config/types.ts';
import { EXPLAIN_USAGE } from './explain/usage.ts';
import { defaultFeatures } from './features.ts';
import { releaseStartMemoryWhenIdle } from './ops/releaseStartMemory.ts';
import { createGateway } from './server.ts';

const USAGE = `Usage:
  portico serve --config FILE [--branding DIR] [--workers N|auto]
                                   run the gateway (hot-reloads FILE and DIR, default ./branding
                                   beside FILE; SIGHUP reloads too)
  portico validate FILE [--strict-env]
                                   check a routes.yaml: exit 0 if valid, 1 with every error;
                                   unset \${VARS} are warnings (errors with --strict-env)
  portico hash-key [--id ID] [--scopes a,b]
                                   print a new API key and the hash to put in routes.yaml
${EXPLAIN_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'validate':
      return validate(rest);
    case 'serve':
      return serve(rest);
    // The other commands' code is loaded only when asked for: `serve` starts without it.
    case 'hash-key':
      return (await import('./admin/hashKeyCommand.ts')).hashKeyCommand(rest);
    case 'explain':
      return (await import('./explain/explainCommand.ts')).explainCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`unknown command "${command}"\n${USAGE}`);
      return 1;
  }
}

function validate(args: string[]): number {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, 'strict-env': { type: 'boolean' } },
  });
  const file = positionals[0] ?? values.config;
  if (!file) {
    process.stderr.write(`validate needs a FILE\n${USAGE}`);
    return 1;
  }
  // CI checks the file without the secrets it will be served with: an unset variable is a
  // warning (checked with a placeholder) unless --strict-env asks for the serving rules.
  const unsetEnv: ConfigProblem[] | undefined = values['strict-env'] ? undefined : [];
  try {
    const c = loadConfigFile(file, process.env, { unsetEnv });
    const idps = (c.raw.identityProviders ?? []).length;
    const ws = c.routes.filter((r) => r.websocket).length;
    process.stdout.write(
      `${file}: valid — ${c.routes.length} route${c.routes.length === 1 ? '' : 's'} (${c.routes.map((r) => r.prefix).join(', ')}), ` +
        `${idps} identity provider${idps === 1 ? '' : 's'}, ${ws} with WebSockets${idps === 0 ? ', pure reverse proxy' : ''}\n`,
    );
    if (unsetEnv?.length)
      process.stderr.write(
        `${file}: ${unsetEnv.length} warning${unsetEnv.length === 1 ? '' : 's'} (--strict-env makes them errors)\n${formatProblems(file, unsetEnv)}\n`,
      );
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(
        `${file}: invalid, ${err.problems.length} error${err.problems.length === 1 ? '' : 's'}\n${formatProblems(file, err.problems)}\n`,
      );
      return 1;
    }
    throw err;
  }
}

/**
 * `--workers N`: N gateway processes on the same port (SO_REUSEPORT). The primary only starts,
 * restarts and signals them: SIGHUP reloads every worker, SIGTERM drains them all. Workers share
 * nothing in memory, so sessions must live in Redis.
 */
function supervise(cluster: Cluster, configFile: string, workers: number): Promise<number> {
  let config: ReturnType<typeof loadConfigFile>;
  try {
    config = loadConfigFile(configFile);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.file}: invalid, not starting\n${formatProblems(err.file, err.problems)}\n`);
      return Promise.resolve(1);
    }
    throw err;
  }
  // What each worker would keep to itself in memory: sessions, per-address limits (N times the
  // limit), maintenance switches and admin throttles (one worker of N), the OpenID Provider's grants.
  const shared = [
    (config.raw.identityProviders ?? []).length > 0 && 'identityProviders',
    config.routes.some((r) => r.perIpRate || r.perUserRate) && 'rateLimit',
    config.raw.admin !== undefined && 'admin',
    config.raw.oidcProvider !== undefined && 'oidcProvider',
  ].filter((x): x is string => typeof x === 'string');
  if (shared.length > 0 && config.raw.session?.store !== 'redis') {
    process.stderr.write(
      `--workers > 1 needs session.store: redis: workers share no memory, and this config keeps state every worker must see (${shared.join(', ')})\n`,
    );
    return Promise.resolve(1);
  }
  let stopping = false;
  // The config the workers serve, as the last of them to load one reported it (runningConfig).
  let running: RunningConfig | undefined;
  cluster.on('message', (worker, message: { portico?: string; config?: RunningConfig }) => {
    if (message?.portico === RUNNING) running = message.config;
    // A worker that exits between asking and the answer must not take the primary with it: an
    // error of send() without a callback is thrown.
    else if (message?.portico === ASK && worker.isConnected())
      worker.send({ portico: RUNNING, config: running ?? null }, undefined, () => {});
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    process.stderr.write(
      `portico: worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`,
    );
    setTimeout(() => cluster.fork(), 500);
  });
  process.on('SIGHUP', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
  });
  return new Promise<number>((resolve) => {
    const stop = () => {
      stopping = true;
      const alive = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
      if (alive.length === 0) resolve(0);
      let left = alive.length;
      for (const w of alive) {
        w.once('exit', () => {
          if (--left === 0) resolve(0);
        });
        w.process.kill('SIGTERM');
      }
    };
    const once = repeatTolerantStop(stop);
    process.on('SIGTERM', once);
    process.on('SIGINT', once);
  });
}

/**
 * Runs `stop` on the first signal. The same stop often arrives twice at once (Ctrl-C reaches every
 * process of the terminal's group, and a launcher passes it on too): a repeat within a second is
 * that echo and ignored; one sent later means "now", and the process exits without draining.
 */
function repeatTolerantStop(stop: (signal: NodeJS.Signals) => void): (signal: NodeJS.Signals) => void {
  let since: number | undefined;
  return (signal) => {
    if (since === undefined) {
      since = performance.now();
      stop(signal);
    } else if (performance.now() - since > 1000) {
      process.stderr.write(`portico: ${signal} again, stopping without draining\n`);
      process.exit(1);
    }
  };
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c', default: 'routes.yaml' },
      branding: { type: 'string' },
      workers: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
    },
  });
  const workers =
    values.workers === 'auto'
      ? availableParallelism()
      : Number(values.workers ?? process.env.PORTICO_WORKERS ?? 1);
  if (!Number.isInteger(workers) || workers < 1) {
    process.stderr.write('--workers must be a positive number or "auto"\n');
    return 1;
  }
  // node:cluster (with child_process and dgram) only with --workers: the workers get the same
  // arguments, and Node has loaded it into them already.
  const cluster = workers > 1 ? (await import('node:cluster')).default : undefined;
  if (cluster?.isPrimary) return supervise(cluster, values.config!, workers);
  let gateway: ReturnType<typeof createGateway>;
  // A worker replacing one that died serves what its siblings serve (see runningConfig).
  const siblings = cluster?.isWorker ? await runningConfig() : undefined;
  try {
    // Read once: the features need to know whether storage is configured, the gateway the rest.
    let config: Config;
    if (siblings) config = compileConfig(siblings.raw, siblings.source, siblings.file, siblings.baseDir);
    else config = loadConfigFile(values.config!);
    gateway = createGateway({
      configFile: values.config!,
      config,
      features: defaultFeatures({
        configFile: values.config!,
        brandingDir: values.branding,
        hasStorage: config.raw.storage !== undefined,
      }),
      port: values.port ? Number(values.port) : undefined,
      host: values.host,
      reusePort: cluster?.isWorker === true,
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.file}: invalid, not starting\n${formatProblems(err.file, err.problems)}\n`);
      return 1;
    }
    throw err;
  }
  try {
    await gateway.listen();
  } catch (err) {
    const problem = listenProblem(err);
    if (!problem) throw err;
    process.stderr.write(`portico: ${problem}\n`);
    return 1;
  }
  gateway.log.info({ url: gateway.url(), config: values.config }, 'portico is listening');
  if (cluster?.isWorker) {
    const report = () => {
      const c = gateway.config();
      if (!process.connected) return; // the primary is gone: this worker is stopping
      process.send?.({
        portico: RUNNING,
        config: { raw: c.raw, source: c.source, file: c.file, baseDir: c.baseDir } satisfies RunningConfig,
      });
    };
    gateway.events.on('configReload', (e: { ok: boolean }) => {
      if (e.ok) report();
    });
    if (siblings) {
      // The file may have changed before this worker watched it: read as its siblings did (a
      // broken file is rejected, and the running config keeps serving; keys only a restart
      // applies keep their running values, as in the siblings).
      gateway.log.info('started with the config the other workers serve; reading the file again');
      gateway.reload();
    }
    report();
  }
  // What the start compiled goes to disk soon, not only at a clean exit (a killed process writes
  // nothing); not at once, as the first start's write (~0.1 s, fsync) would hold up the first answers.
  setTimeout(flushCompileCache, 1000).unref();
  releaseStartMemoryWhenIdle(gateway.log);
  process.on('SIGHUP', () => {
    // A file that became a FIFO or a device is refused by the loader, not read (configFileKind.ts).
    gateway.reload();
  });
  const stop = repeatTolerantStop((signal) => {
    gateway.log.info({ signal }, 'draining connections');
    gateway.close(25_000).then(() => process.exit(0));
  });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return new Promise<number>(() => {});
}

/** What a worker reports to the primary after each config it loads, and a replacement starts from. */
type RunningConfig = Pick<Config, 'raw' | 'source' | 'file' | 'baseDir'>;
const RUNNING = 'portico:running-config';
const ASK = 'portico:running-config?';

/**
 * The config the other workers of `--workers` serve, asked of the primary (none yet at the first
 * start: the file is read). A worker that died is replaced by one serving the same: read from the
 * file, a broken file (the siblings rejected it and kept the last good config) stopped every
 * replacement at start, the primary restarting it twice a second for as long as the file stayed
 * broken; and a file whose restart-only keys had changed (listen, session) gave the replacement
 * values its siblings held back.
 */
function runningConfig(): Promise<RunningConfig | undefined> {
  return new Promise((resolve) => {
    const done = (config: RunningConfig | undefined) => {
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(config);
    };
    const onMessage = (message: { portico?: string; config?: RunningConfig | null }) => {
      if (message?.portico === RUNNING) done(message.config ?? undefined);
    };
    // A primary that does not answer (an older one) leaves the worker to read the file.
    const timer = setTimeout(() => done(undefined), 2000);
    process.on('message', onMessage);
    process.send?.({ portico: ASK });
  });
}

/** What an operator needs to read when the listening socket cannot be opened; undefined for the unexpected. */
function listenProblem(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const where = `port ${e.port} on ${e.address}`;
  if (e.code === 'EADDRINUSE') return `${where} is in use`;
  if (e.code === 'EACCES') return `${where} needs more privileges (ports below 1024 do)`;
  if (e.code === 'EADDRNOTAVAIL') return `${e.address} is not an address of this machine`;
  return undefined;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`portico: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
