// docker-compose.yml, run natively: there is no Docker engine here, so this test starts the same
// topology from the same files, with each compose service replaced by a local stand-in:
//
//   lb            nginx with deploy/compose/lb.conf
//   portico-1/-2  `node scripts/portico.js` with the service's command and environment, on
//                 deploy/compose/routes.compose.yaml
//   customer,     `node scripts/demo/upstreams.ts` with the service's command
//   ai-platform
//   redis         the machine's Redis (REDIS_URL, default redis://127.0.0.1:6379)
//   keycloak      the demo OIDC provider (scripts/demo/idp.ts) at the realm's issuer path, with
//                 the client from deploy/keycloak/realm-portico.json
//   minio         an S3 server (s3rver), seeded with branding/ as minio-init does
//
// Every `service:port` in those files is rewritten to 127.0.0.1 and the stand-in's port; the
// test fails if one is left over. Prometheus and Grafana are not started.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { TestContext } from 'node:test';
import { after, before, describe, it } from 'node:test';
import { createObjectStore } from '../../gateway/storage/objectStore.ts';
import { CookieJar, driveLogin, httpRequest, type Idp, startIdp } from '../../scripts/demo/idp.ts';
import { findNginx } from '../helpers/nginx.ts';
import { sharedRedisUrl } from '../helpers/redis.ts';
import { startS3 } from '../helpers/s3.ts';
import { freePort } from '../helpers/sso.ts';
import {
  asList,
  type ComposeService,
  environmentOf,
  hostPathOf,
  interpolate,
  loadCompose,
  parseDockerfile,
  parseEnvFile,
  read,
  root,
  serviceReferences,
} from './deployFiles.ts';
import { stopChild } from '../helpers/processes.ts';
import { eventually } from '../helpers/eventually.ts';

const env = parseEnvFile(read('deploy/.env.example'));
const { compose } = loadCompose(env);
const services = compose.services;
const serviceNames = Object.keys(services);
const porticoNames = serviceNames.filter((n) => asList(services[n]!.command)[0] === 'serve');

type Proc = { child: ChildProcess; output: () => string };
type Topology = {
  publicUrl: string;
  replicas: { name: string; url: string; proc: Proc }[];
  idp: Idp;
  /** compose `service:port` → local `127.0.0.1:port` */
  addresses: Map<string, string>;
};

const cleanups: (() => unknown)[] = [];

function startProcess(command: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c));
  child.stderr!.on('data', (c: Buffer) => (output += c));
  cleanups.push(() => stopChild(child));
  return { child, output: () => output };
}

async function waitFor<T>(
  what: string,
  proc: Proc | undefined,
  probe: () => Promise<T | undefined>,
  ms = 15_000,
) {
  const exited = () => proc !== undefined && proc.child.exitCode !== null;
  const value = await eventually(
    () => probe().catch(() => undefined),
    (v) => v !== undefined || exited(),
    { timeoutMs: ms, intervalMs: 50 },
  );
  if (exited()) throw new Error(`${what} exited (${proc!.child.exitCode}):\n${proc!.output()}`);
  if (value === undefined)
    throw new Error(`${what} did not come up within ${ms} ms:\n${proc?.output() ?? ''}`);
  return value;
}

const status = (url: string) => fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.status);

/** Replaces every compose `service:port` with its local address; fails on one without a stand-in. */
function localise(text: string, addresses: Map<string, string>): string {
  for (const ref of serviceReferences(text, serviceNames))
    assert.ok(
      addresses.has(`${ref.service}:${ref.port}`),
      `no local stand-in for ${ref.service}:${ref.port}`,
    );
  const keys = [...addresses.keys()]
    .sort((a, b) => b.length - a.length)
    .map((k) => k.replace(/[-.]/g, '\\$&'));
  return text.replace(
    new RegExp(`(?<![\\w.-])(?:${keys.join('|')})(?![\\w.-])`, 'g'),
    (k) => addresses.get(k)!,
  );
}

const dockerfile = parseDockerfile(read('Dockerfile'));
/** The image's instructions: the runtime stage and the stages it is built FROM. */
const imageInstructions = (() => {
  const chain = (stage: (typeof dockerfile)[number]): (typeof dockerfile)[number][] => {
    const parent = dockerfile.find((s) => s.name === stage.image);
    return parent ? [...chain(parent), stage] : [stage];
  };
  return chain(dockerfile.at(-1)!).flatMap((s) => s.instructions);
})();
/** The image's working folder: a copy of the repository's files (/app). */
const workdir = imageInstructions.findLast((i) => i.keyword === 'WORKDIR')!.args;

/** A compose service of the Portico image run as a local process: its entrypoint and command. */
function runFromImage(service: ComposeService, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Proc {
  const entrypoint = service.entrypoint
    ? asList(service.entrypoint)
    : JSON.parse(imageInstructions.findLast((i) => i.keyword === 'ENTRYPOINT')!.args);
  assert.equal(entrypoint[0], 'node');
  return startProcess(process.execPath, [...entrypoint.slice(1), ...args], extraEnv);
}

async function startUpstreamService(name: string, addresses: Map<string, string>, publicUrl: string) {
  const service = services[name]!;
  const args = asList(service.command);
  const portFlag = args.findIndex((a) => a === '--customer-port' || a === '--ai-port');
  const composePort = args[portFlag + 1]!;
  const local = args.map((a, i) => (i === portFlag + 1 ? '0' : args[i - 1] === '--host' ? '127.0.0.1' : a));
  // Its environment as compose gives it, with the public URL the browser uses here.
  const serviceEnv = Object.fromEntries(
    Object.entries(environmentOf(service)).map(([k, v]) => [
      k,
      v.replaceAll(env.PORTICO_PUBLIC_URL!, publicUrl),
    ]),
  );
  const proc = runFromImage(service, local, serviceEnv);
  const port = await waitFor(
    name,
    proc,
    async () => /: http:\/\/127\.0\.0\.1:(\d+)\//.exec(proc.output())?.[1],
  );
  addresses.set(`${name}:${composePort}`, `127.0.0.1:${port}`);
}

/** nginx with lb.conf inside a minimal http block whose files all live in a temporary folder. */
async function startLb(port: number, addresses: Map<string, string>): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-lb-'));
  chmodSync(dir, 0o755); // nginx run as root hands its workers to an unprivileged user
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const lb = localise(read('deploy/compose/lb.conf'), addresses).replace(
    /^(\s*)listen\s+\d+\s*;/m,
    `$1listen 127.0.0.1:${port};`,
  );
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
    (t) => `  ${t}_temp_path ${join(dir, t)};`,
  );
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `events { worker_connections 256; }\nhttp {\n  access_log off;\n${temp.join('\n')}\n${lb}\n}\n`,
  );
  const errorLog = join(dir, 'error.log');
  const proc = startProcess(findNginx(), [
    '-p',
    dir,
    '-e',
    errorLog,
    '-c',
    conf,
    '-g',
    `daemon off; master_process on; worker_processes 1; pid ${join(dir, 'nginx.pid')}; error_log ${errorLog};`,
  ]);
  return proc;
}

async function startTopology(): Promise<Topology> {
  const redisUrl = await sharedRedisUrl();
  const addresses = new Map<string, string>();
  const routesFile = (() => {
    const s = services[porticoNames[0]!]!;
    const args = asList(s.command);
    return hostPathOf(s, args[args.indexOf('--config') + 1]!)!;
  })();
  const routesText = read(routesFile);

  // The load balancer's port first: the AI platform's realm reaches Portico at the public URL.
  const lbPort = await freePort();
  const publicUrl = `http://127.0.0.1:${lbPort}`;

  // The demo upstreams, from their compose commands and environments.
  await Promise.all(['customer', 'ai-platform'].map((n) => startUpstreamService(n, addresses, publicUrl)));

  // Ports for the replicas.
  addresses.set(`lb:${(services.lb!.expose ?? [])[0]}`, `127.0.0.1:${lbPort}`);
  const lbAddress = (services.lb!.networks as Record<string, { ipv4_address: string }>).default!.ipv4_address;
  const replicas: { name: string; port: number }[] = [];
  for (const name of porticoNames) {
    const port = await freePort();
    replicas.push({ name, port });
    addresses.set(`${name}:${(services[name]!.expose ?? [])[0]}`, `127.0.0.1:${port}`);
  }

  // Keycloak's stand-in: the realm's client, at the realm's issuer path.
  const kcEnv = { ...environmentOf(services.keycloak!), PORTICO_PUBLIC_URL: publicUrl };
  const realm = JSON.parse(
    localise(interpolate(read('deploy/keycloak/realm-portico.json'), kcEnv, []), addresses),
  ) as {
    clients: {
      clientId: string;
      secret: string;
      redirectUris: string[];
      attributes: Record<string, string>;
      protocolMappers?: { protocolMapper: string }[];
    }[];
  };
  const issuer = new URL(/^\s*issuer:\s*(\S+)/m.exec(routesText)![1]!);
  const client = realm.clients[0]!;
  // The realm's group-membership mapper puts groups in every token, as the stand-in then does.
  const groupsMapper = (client.protocolMappers ?? []).some(
    (m) => m.protocolMapper === 'oidc-group-membership-mapper',
  );
  const idp = await startIdp({
    port: 0,
    issuerPath: issuer.pathname,
    claimsShape: groupsMapper ? 'keycloak' : 'generic',
    logErrors: false,
    clients: [
      {
        clientId: client.clientId,
        clientSecret: client.secret,
        redirectUris: client.redirectUris,
        postLogoutRedirectUris: [client.attributes['post.logout.redirect.uris']!],
        backchannelLogoutUri: client.attributes['backchannel.logout.url'],
      },
    ],
  });
  cleanups.push(() => idp.close());
  addresses.set(`${issuer.hostname}:${issuer.port}`, `127.0.0.1:${idp.port}`);

  // MinIO's stand-in, seeded with branding/ as minio-init does.
  const s3 = await startS3({ after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext, {
    bucket: /^\s*bucket:\s*(\S+)/m.exec(routesText)![1]!,
  });
  for (const port of services.minio!.expose ?? []) addresses.set(`minio:${port}`, `127.0.0.1:${s3.port}`);
  const store = createObjectStore(s3.storage());
  for (const file of readdirSync(join(root, 'branding')))
    await store.put(`branding/${file}`, readFileSync(join(root, 'branding', file)));
  store.destroy();
  addresses.set('redis:6379', new URL(redisUrl).host);

  // The routes file, localised, under its own name in a folder of its own (as mounted).
  const dir = mkdtempSync(join(tmpdir(), 'portico-mirror-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const localRoutes = join(dir, basename(routesFile));
  writeFileSync(localRoutes, localise(routesText, addresses).replaceAll(lbAddress, '127.0.0.1'));

  // The replicas, with their compose command and environment.
  const started = replicas.map(({ name, port }) => {
    const service = services[name]!;
    const serviceEnv = Object.fromEntries(
      Object.entries(environmentOf(service)).map(([k, v]) => [k, localise(v, addresses)]),
    );
    const args = asList(service.command).map((a, i, all) =>
      all[i - 1] === '--config'
        ? localRoutes
        : a.startsWith(`${workdir}/`)
          ? join(root, a.slice(workdir.length + 1))
          : a,
    );
    const proc = runFromImage(service, [...args, '--port', String(port), '--host', '127.0.0.1'], {
      ...serviceEnv,
      PORTICO_PUBLIC_URL: publicUrl,
      REDIS_URL: redisUrl, // the machine's Redis has no password
      PORTICO_S3_ACCESS_KEY: s3.accessKeyId,
      PORTICO_S3_SECRET_KEY: s3.secretAccessKey,
    });
    return { name, url: `http://127.0.0.1:${port}`, proc };
  });
  // As in compose, the load balancer starts once both replicas are ready (their healthcheck).
  await Promise.all(
    started.map((r) =>
      waitFor(r.name, r.proc, async () =>
        (await status(`${r.url}/_portico/readyz`)) === 200 ? true : undefined,
      ),
    ),
  );
  const lb = await startLb(lbPort, addresses);
  await waitFor('lb', lb, async () =>
    (await status(`${publicUrl}/_portico/healthz`)) === 200 ? true : undefined,
  );
  return { publicUrl, replicas: started, idp, addresses };
}

describe('the docker-compose topology, run natively', () => {
  let topo: Topology;
  before(
    async () => {
      topo = await startTopology();
    },
    { timeout: 20_000 },
  );
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('has both replicas alive and ready: config, Redis, the IdP discovery and the brand from storage', async () => {
    for (const r of topo.replicas) {
      assert.equal(await status(`${r.url}/_portico/healthz`), 200, r.name);
      const ready = await fetch(`${r.url}/_portico/readyz`);
      const body = (await ready.json()) as { checks: Record<string, Record<string, unknown>> };
      assert.equal(ready.status, 200, `${r.name}: ${JSON.stringify(body)}`);
      assert.equal(body.checks.sessions?.store, 'redis');
      assert.equal(body.checks.identityProviders?.keycloak, 'ok');
      if (body.checks.branding) assert.equal(body.checks.branding.source, 'storage:branding/');
    }
  });

  it('passes the healthchecks that docker-compose.yml runs in the containers', async () => {
    const run = async (service: string) => {
      const test = asList(services[service]!.healthcheck!.test);
      assert.equal(test[0], 'CMD');
      assert.equal(test[1], 'node');
      const local = test
        .slice(2)
        .map((a) => localise(a.replace('127.0.0.1:', `${service}:`), topo.addresses));
      const child = spawn(process.execPath, local, { stdio: 'ignore' });
      const [code] = await once(child, 'exit');
      return code;
    };
    for (const service of [...porticoNames, 'customer', 'ai-platform'])
      assert.equal(await run(service), 0, service);
  });

  it('proxies / to the demo customer system on each replica and through the load balancer', async () => {
    for (const base of [...topo.replicas.map((r) => r.url), topo.publicUrl]) {
      const res = await fetch(`${base}/`, { headers: { accept: 'text/html' } });
      assert.equal(res.status, 200, base);
      assert.match(await res.text(), /云管平台 Yiyun/);
    }
  });

  it('spreads requests over both replicas (no stickiness needed)', async () => {
    for (let i = 0; i < 6; i++) assert.equal(await status(`${topo.publicUrl}/api/whoami?spread=${i}`), 200);
    await waitFor(
      'access logs from both replicas',
      undefined,
      async () =>
        topo.replicas.every((r) => r.proc.output().includes('/api/whoami?spread=')) ? true : undefined,
      3000,
    );
  });

  it('sends an anonymous browser at /dce5/ to the IdP with the callback registered for the client', async () => {
    let res = await httpRequest(`${topo.publicUrl}/dce5/`);
    for (let i = 0; i < 5 && res.status >= 300 && res.status < 400; i++) {
      const next = new URL(res.headers.location!, res.url);
      if (next.origin !== topo.publicUrl) break;
      res = await httpRequest(next);
    }
    const authorization = new URL(res.headers.location!, res.url);
    assert.equal(authorization.origin + authorization.pathname, topo.idp.endpoints.authorization);
    assert.equal(
      authorization.searchParams.get('redirect_uri'),
      `${topo.publicUrl}/_portico/callback/keycloak`,
    );
    const api = await fetch(`${topo.publicUrl}/dce5/`, {
      headers: { accept: 'application/json' },
      redirect: 'manual',
    });
    assert.equal(api.status, 401);
  });

  it('keeps a session made through one replica valid on the other, and both sign with the same keys', async () => {
    const jar = new CookieJar();
    let res = await httpRequest(`${topo.publicUrl}/_portico/login/keycloak`, { jar });
    assert.equal(res.status, 302);
    const back = await driveLogin(topo.idp, res.headers.location!, { username: 'alice', password: 'alice' });
    assert.ok(back.location.startsWith(`${topo.publicUrl}/_portico/callback/keycloak?`), back.location);
    res = await httpRequest(back.location, { jar });
    assert.equal(res.status, 302, res.body);
    for (const r of topo.replicas) {
      const me = await httpRequest(`${r.url}/_portico/me`, { jar, headers: { accept: 'application/json' } });
      assert.equal(me.status, 200, `${r.name}: ${me.body}`);
      assert.equal((JSON.parse(me.body) as { username: string }).username, 'alice');
      const who = await httpRequest(`${r.url}/api/whoami`, { jar, headers: { accept: 'application/json' } });
      assert.equal(
        (JSON.parse(who.body) as { user: string }).user,
        'alice',
        `${r.name} tells the customer system`,
      );
    }
    const [a, b] = await Promise.all(
      topo.replicas.map((r) => fetch(`${r.url}/_portico/jwks.json`).then((x) => x.json())),
    );
    assert.deepEqual(a, b);
    assert.ok((a as { keys: unknown[] }).keys.length > 0);
  });

  it("lets alice into the AI platform's own realm with no second login, and its APIs take its token", async () => {
    const jar = new CookieJar();
    let res = await httpRequest(`${topo.publicUrl}/_portico/login/keycloak`, { jar });
    const back = await driveLogin(topo.idp, res.headers.location!, { username: 'alice', password: 'alice' });
    assert.equal((await httpRequest(back.location, { jar })).status, 302);

    // The platform's UI starts its own sign-in (public client, PKCE), as DCE's does.
    const verifier = randomBytes(32).toString('base64url');
    const ui = `${topo.publicUrl}/dce5/`;
    const auth = new URL(`${topo.publicUrl}/dce5/auth/realms/ghippo/protocol/openid-connect/auth`);
    auth.search = new URLSearchParams({
      client_id: 'ghippo',
      redirect_uri: ui,
      response_type: 'code',
      scope: 'openid profile email',
      state: 'ui-state',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    // Realm → Portico's OpenID Provider (kc_idp_hint added by Portico) → realm's broker endpoint →
    // the UI with a code: redirects only, through the load balancer, never a page.
    const hops: string[] = [];
    let url = auth.href;
    for (;;) {
      res = await httpRequest(url, { jar });
      hops.push(`${res.status} ${new URL(url).pathname}`);
      assert.ok(res.status >= 300 && res.status < 400, `a page at ${url}: ${res.status}\n${res.body}`);
      url = new URL(res.headers.location!, url).href;
      if (url.startsWith(`${ui}?`) || hops.length > 10) break;
    }
    assert.ok(
      hops.some((h) => h.includes('/_portico/oidc/auth')),
      hops.join('\n'),
    );
    const callback = new URL(url);
    assert.equal(callback.searchParams.get('state'), 'ui-state', hops.join('\n'));

    const token = await httpRequest(
      `${topo.publicUrl}/dce5/auth/realms/ghippo/protocol/openid-connect/token`,
      {
        method: 'POST',
        jar,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          client_id: 'ghippo',
          code: callback.searchParams.get('code')!,
          redirect_uri: ui,
          code_verifier: verifier,
        }).toString(),
      },
    );
    assert.equal(token.status, 200, token.body);
    const accessToken = (JSON.parse(token.body) as { access_token: string }).access_token;
    // Its APIs check its own token, with no Portico session at all (a CI script's call).
    const me = await httpRequest(`${topo.publicUrl}/dce5/apis/ghippo.io/v1alpha1/current-user`, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
    });
    assert.equal(me.status, 200, me.body);
    assert.match(me.body, /"alice"/);
  });
});
