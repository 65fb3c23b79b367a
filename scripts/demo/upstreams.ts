// `node scripts/demo/upstreams.ts`: only the demo upstreams, the customer system and the AI
// platform, without Portico or an identity provider. docker-compose.yml and Kubernetes run them
// from the Portico image as services of their own, beside a real IdP (Keycloak):
//
//   node scripts/demo/upstreams.ts --customer-port 8081 --ai-port 8082 --host 0.0.0.0
//   node scripts/demo/upstreams.ts --only customer --customer-port 8081 --host 0.0.0.0
//
// Port 0 picks a free port. One line per server tells where it is
// ("demo customer system: http://127.0.0.1:8081/ (listening on 0.0.0.0:8081)"); SIGTERM and
// SIGINT stop them.
// The customer system trusts the identity headers it receives, so it belongs behind Portico, on a
// private network. The AI platform reads no header: users sign in through its own realm, which
// brokers the identity provider named by the DEMO_AI_* variables (see USAGE).
import { parseArgs } from 'node:util';
import { type AiPlatformOptions, startAiPlatform } from './aiPlatform.ts';
import type { DemoServer } from './common.ts';
import { startCustomerSystem } from './customerSystem.ts';

export const USAGE = `Usage: node scripts/demo/upstreams.ts [options]
  --customer-port N   the demo customer system (default 8081; 0 picks a free port)
  --ai-port N         the demo AI platform (default 8082; 0 picks a free port)
  --host ADDRESS      where both listen (default 127.0.0.1; 0.0.0.0 in a container)
  --only NAME         start only "customer" or "ai"
The AI platform's realm, from the environment (like ghippo's Helm values and its OIDC form):
  DEMO_AI_REVERSE_PROXY       its public root, e.g. https://portal.example.com/dce5
  DEMO_AI_IDP_ISSUER          the identity provider registered in the realm (none if unset)
  DEMO_AI_IDP_CLIENT_ID       default dce5-ghippo
  DEMO_AI_IDP_CLIENT_SECRET   required with DEMO_AI_IDP_ISSUER
  DEMO_AI_IDP_ALIAS           default portico (the value kc_idp_hint selects)
  DEMO_AI_IDP_AUTH_METHOD     client_secret_post (default) or client_secret_basic
`;

export type UpstreamsOptions = {
  customerPort?: number;
  aiPort?: number;
  host?: string;
  only?: 'customer' | 'ai';
  /** The AI platform's realm settings (see aiPlatformFromEnv). */
  ai?: Pick<AiPlatformOptions, 'reverseProxy' | 'identityProviders'>;
};

/** The AI platform's realm settings from DEMO_AI_* variables; throws a message for the user. */
export function aiPlatformFromEnv(env: NodeJS.ProcessEnv): NonNullable<UpstreamsOptions['ai']> {
  const issuer = env.DEMO_AI_IDP_ISSUER;
  const method = env.DEMO_AI_IDP_AUTH_METHOD ?? 'client_secret_post';
  if (method !== 'client_secret_post' && method !== 'client_secret_basic')
    throw new Error('DEMO_AI_IDP_AUTH_METHOD must be client_secret_post or client_secret_basic');
  if (issuer && !env.DEMO_AI_IDP_CLIENT_SECRET)
    throw new Error('DEMO_AI_IDP_CLIENT_SECRET must be set with DEMO_AI_IDP_ISSUER');
  return {
    reverseProxy: env.DEMO_AI_REVERSE_PROXY || undefined,
    identityProviders: issuer
      ? [
          {
            alias: env.DEMO_AI_IDP_ALIAS || 'portico',
            issuer,
            clientId: env.DEMO_AI_IDP_CLIENT_ID || 'dce5-ghippo',
            clientSecret: env.DEMO_AI_IDP_CLIENT_SECRET!,
            clientAuthMethod: method,
          },
        ]
      : [],
  };
}

export type Upstreams = {
  customer?: DemoServer;
  ai?: DemoServer;
  close(): Promise<void>;
};

export async function startUpstreams(options: UpstreamsOptions = {}): Promise<Upstreams> {
  const host = options.host ?? '127.0.0.1';
  const started: Upstreams = {
    close: async () => {
      await Promise.all([started.customer?.close(), started.ai?.close()]);
    },
  };
  try {
    if (options.only !== 'ai')
      started.customer = await startCustomerSystem({ port: options.customerPort ?? 8081, host });
    if (options.only !== 'customer')
      started.ai = await startAiPlatform({ port: options.aiPort ?? 8082, host, ...options.ai });
  } catch (err) {
    await started.close();
    throw err;
  }
  return started;
}

/** Parses the command line; throws an Error whose message is meant for the user. */
export function parseUpstreamsArgs(args: string[]): UpstreamsOptions & { help: boolean } {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      'customer-port': { type: 'string' },
      'ai-port': { type: 'string' },
      host: { type: 'string' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const port = (name: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!/^\d+$/.test(value) || n > 65535) throw new Error(`--${name} must be a port number (0-65535)`);
    return n;
  };
  if (values.only !== undefined && values.only !== 'customer' && values.only !== 'ai')
    throw new Error('--only must be "customer" or "ai"');
  if (values.host === '') throw new Error('--host must not be empty');
  return {
    customerPort: port('customer-port', values['customer-port']),
    aiPort: port('ai-port', values['ai-port']),
    host: values.host,
    only: values.only as UpstreamsOptions['only'],
    help: values.help ?? false,
  };
}

async function main(args: string[]): Promise<void> {
  let options: ReturnType<typeof parseUpstreamsArgs>;
  try {
    options = parseUpstreamsArgs(args);
  } catch (err) {
    process.stderr.write(`upstreams: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }
  let ai: UpstreamsOptions['ai'];
  try {
    ai = aiPlatformFromEnv(process.env);
  } catch (err) {
    process.stderr.write(`upstreams: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const upstreams = await startUpstreams({ ...options, ai });
  const host = options.host ?? '127.0.0.1';
  for (const [name, server] of [
    ['demo customer system', upstreams.customer],
    ['demo AI platform', upstreams.ai],
  ] as const) {
    if (server) process.stdout.write(`${name}: ${server.url} (listening on ${host}:${server.port})\n`);
  }
  const stop = () => {
    upstreams.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`upstreams: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
