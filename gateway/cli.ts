import { parseArgs } from 'node:util';
import { hashKeyCommand } from './admin/hashKeyCommand.ts';
import { ConfigError, formatProblems, loadConfigFile } from './config/loadConfig.ts';
import { defaultFeatures } from './features.ts';
import { createGateway } from './server.ts';

const USAGE = `Usage:
  portico serve --config FILE [--branding DIR]
                                   run the gateway (hot-reloads FILE and DIR, default ./branding
                                   beside FILE; SIGHUP reloads too)
  portico validate FILE            check a routes.yaml: exit 0 if valid, 1 with every error
  portico hash-key [--id ID] [--scopes a,b]
                                   print a new API key and the hash to put in routes.yaml
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'validate':
      return validate(rest);
    case 'serve':
      return serve(rest);
    case 'hash-key':
      return hashKeyCommand(rest);
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
    options: { config: { type: 'string', short: 'c' } },
  });
  const file = positionals[0] ?? values.config;
  if (!file) {
    process.stderr.write(`validate needs a FILE\n${USAGE}`);
    return 1;
  }
  try {
    const c = loadConfigFile(file);
    const idps = (c.raw.identityProviders ?? []).length;
    const ws = c.routes.filter((r) => r.websocket).length;
    process.stdout.write(
      `${file}: valid — ${c.routes.length} route${c.routes.length === 1 ? '' : 's'} (${c.routes.map((r) => r.prefix).join(', ')}), ` +
        `${idps} identity provider${idps === 1 ? '' : 's'}, ${ws} with WebSockets${idps === 0 ? ', pure reverse proxy' : ''}\n`,
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

function hasStorage(file: string): boolean {
  try {
    return loadConfigFile(file).raw.storage !== undefined;
  } catch {
    return false; // createGateway reports the config's errors
  }
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c', default: 'routes.yaml' },
      branding: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
    },
  });
  let gateway: ReturnType<typeof createGateway>;
  try {
    gateway = createGateway({
      configFile: values.config!,
      features: defaultFeatures({
        configFile: values.config!,
        brandingDir: values.branding,
        hasStorage: hasStorage(values.config!),
      }),
      port: values.port ? Number(values.port) : undefined,
      host: values.host,
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.file}: invalid, not starting\n${formatProblems(err.file, err.problems)}\n`);
      return 1;
    }
    throw err;
  }
  await gateway.listen();
  gateway.log.info({ url: gateway.url(), config: values.config }, 'portico is listening');
  process.on('SIGHUP', () => gateway.reload());
  const stop = (signal: string) => {
    gateway.log.info({ signal }, 'draining connections');
    gateway.close(25_000).then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return new Promise<number>(() => {});
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
