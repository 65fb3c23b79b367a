import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { newApiKey } from '../../gateway/auth/apiKeys.ts';
import { shippedNginx } from '../../scripts/bench/forwardAuthNginx.ts';
import { startGateway, type StartedGateway } from './gateway.ts';
import type { RawResponse } from './http.ts';
import { driveLogin, type Idp } from './idp.ts';
import { type StartedNginx, startNginxWith } from './nginx.ts';
import { type RedisServer, startRedis } from './redis.ts';
import { freePort, GatewayClient, SESSION_SECRET, startIdpFor } from './sso.ts';
import { type Upstream, upstreamFor } from './upstream.ts';

/** A forward-auth check Portico answered (its `request` event for /_portico/auth). */
export type AnsweredCheck = {
  status: number;
  route: string | undefined;
  user: string | undefined;
  /** The X-Original-URI nginx sent. */
  uri: string | undefined;
  /** When Portico answered (performance.now()). */
  at: number;
};

export type ForwardAuthSetup = {
  /** nginx's address: the publicUrl, where browsers and clients go. */
  url: string;
  nginx: StartedNginx;
  portico: StartedGateway;
  idp: Idp;
  /** The customer system at `/`. */
  customer: Upstream;
  /** The AI platform at `/dce5/` (HTTP and WebSockets, cloudtty's `tty` subprotocol). */
  ai: Upstream;
  redis: RedisServer;
  /** Every check Portico answered, in order. */
  checks: AnsweredCheck[];
  /** A Portico API key (`ptk_ci_…`) in the group ai-users. */
  apiKey: string;
  /** nginx's access log (log_format portico) so far. */
  accessLog(): string;
};

/**
 * The shipped nginx config (deploy/nginx/) in front of two real upstreams, with Portico beside it
 * as its authentication server, a real OIDC provider, and a private Redis a test may stop. Only
 * addresses are changed in the shipped files (every replacement must apply, so a change to the
 * files that a test no longer covers fails here); `cache: true` turns on the optional
 * authorization cache by uncommenting its two lines, as an operator would.
 */
export async function startForwardAuth(
  t: TestContext,
  /** `routes`: extra routes, placed before the two above (a test's own policies). */
  options: { cache?: boolean; routes?: (upstream: { ai: string; customer: string }) => string } = {},
): Promise<ForwardAuthSetup> {
  const customer = await upstreamFor(t);
  const ai = await upstreamFor(t, { websocket: true });
  const redis = await startRedis(t);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const idp = await startIdpFor(t, url);
  const key = newApiKey('ci');
  const portico = await startGateway(
    t,
    `publicUrl: ${url}
trustProxy: [127.0.0.1]
session:
  secret: ${SESSION_SECRET}
  store: redis
  redis: { url: "${redis.url}", keyPrefix: "fwd:" }
identityProviders:
  - { id: corp, type: oidc, name: Customer SSO, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret, scopes: [openid, profile, email, groups] }
apiKeys:
  - { id: ci, hash: "${key.hash}", groups: [ai-users] }
routes:
${options.routes?.({ ai: ai.url, customer: customer.url }) ?? ''}  - { id: ai-platform, path: /dce5/, upstream: "${ai.url}", websocket: true, auth: required, allow: { groups: [ai-users] }, inject: { headers: true, jwt: true } }
  - { id: customer, path: /, upstream: "${customer.url}", auth: optional, inject: { headers: true, jwt: true } }
`,
  );
  const checks: AnsweredCheck[] = [];
  t.after(
    portico.gateway.events.on('request', (e) => {
      if (e.ctx.path === '/_portico/auth')
        checks.push({
          status: e.status,
          route: e.routeId,
          user: e.ctx.identity?.username,
          uri: e.ctx.req.headersDistinct['x-original-uri']?.join(' | '),
          at: performance.now(),
        });
    }),
  );
  const porticoAddress = new URL(portico.url).host;
  let logFile = '';
  const nginx = await startNginxWith(
    t,
    (dir, nginxPort) => {
      logFile = join(dir, 'portico-access.log');
      mkdirSync(join(dir, 'snippets'), { recursive: true });
      mkdirSync(join(dir, 'cache'), { recursive: true });
      const { files, replace } = shippedNginx();
      replace('portico.conf', /^(\s*)listen\s+80;/m, `$1listen 127.0.0.1:${nginxPort};`);
      replace('portico.conf', 'server 127.0.0.1:8080;', `server ${porticoAddress};`);
      replace('portico.conf', 'proxy_pass https://10.6.8.2:30343/;', `proxy_pass ${ai.url};`);
      replace('portico.conf', 'proxy_pass https://10.6.165.50:30443/;', `proxy_pass ${customer.url};`);
      replace('portico.conf', '/var/log/nginx/', `${dir}/`);
      replace('portico.conf', '/var/cache/nginx/', `${dir}/cache/`);
      if (options.cache) {
        replace('portico.conf', /^# (proxy_cache_path .*)$/m, '$1');
        replace(
          'snippets/portico-server.conf',
          /^(\s*)# (include snippets\/portico-auth-cache\.conf;)/m,
          '$1$2',
        );
      }
      for (const [file, text] of files) if (file !== 'portico.conf') writeFileSync(join(dir, file), text);
      const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
        (name) => `  ${name}_temp_path ${join(dir, name)};`,
      );
      return `events { worker_connections 256; }\nhttp {\n  access_log off;\n${temp.join('\n')}\n${files.get('portico.conf')}\n}\n`;
    },
    { port },
  );
  return {
    url,
    nginx,
    portico,
    idp,
    customer,
    ai,
    redis,
    checks,
    apiKey: key.key,
    accessLog: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
  };
}

/**
 * Signs a user in through nginx as a browser would (the 401 → login redirect of the shipped
 * config, Portico's login behind nginx's /_portico/, the IdP's form), and returns the client
 * holding the session cookie.
 */
export async function signInThroughNginx(
  setup: ForwardAuthSetup,
  user: string,
  start = '/dce5/',
): Promise<{ client: GatewayClient; landed: RawResponse }> {
  const client = new GatewayClient(setup.url);
  const first = await client.follow(start);
  const authorization = first.headers.location ?? '';
  assert.ok(
    authorization.startsWith(setup.idp.issuer),
    `expected the IdP, got ${first.status} ${authorization}`,
  );
  const back = await driveLogin(setup.idp, authorization, { username: user, password: user });
  const landed = await client.follow(back.location);
  return { client, landed };
}
