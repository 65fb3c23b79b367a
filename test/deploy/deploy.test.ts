// The deployment files (Dockerfile, docker-compose.yml and its deploy/ files, the Kubernetes
// manifests), checked without a Docker engine or a cluster: every file parses, every service and
// port that one file names is one that another file defines, and every routes.yaml among them is
// accepted by Portico's own loader with the values the deployment gives it.
// nativeMirror.test.ts runs the compose topology itself, natively.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { parse } from 'yaml';
import { loadConfigText } from '../../gateway/config/loadConfig.ts';
import type { Config } from '../../gateway/config/types.ts';
import { createGateway } from '../../gateway/server.ts';
import { DEFAULT_USERS } from '../../scripts/demo/idp.ts';
import { parseUpstreamsArgs } from '../../scripts/demo/upstreams.ts';
import { startGateway } from '../helpers/gateway.ts';
import { sharedRedisUrl } from '../helpers/redis.ts';
import { freePort } from '../helpers/sso.ts';
import {
  asList,
  bindMounts,
  type ComposeService,
  dockerignore,
  environmentOf,
  execForm,
  hostPathOf,
  importGraph,
  interpolate,
  loadCompose,
  loadManifests,
  parseDockerfile,
  parseEnvFile,
  portsOf,
  publishedPorts,
  read,
  root,
  secretValues,
  serviceReferences,
} from './deployFiles.ts';
import { eventually } from '../helpers/eventually.ts';
import { nextEvent } from '../helpers/events.ts';

const pkg = JSON.parse(read('package.json')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const stages = parseDockerfile(read('Dockerfile'));
const finalStage = stages.at(-1)!;
/** A stage and the stages it is built FROM, base first: what the image really contains. */
const chainOf = (stage: (typeof stages)[number]): (typeof stages)[number][] => {
  const parent = stages.find((s) => s.name === stage.image);
  return parent ? [...chainOf(parent), stage] : [stage];
};
const instructions = (keyword: string) =>
  chainOf(finalStage).flatMap((s) => s.instructions.filter((i) => i.keyword === keyword));
const lastOf = (keyword: string) => instructions(keyword).at(-1)?.args;

const envExample = parseEnvFile(read('deploy/.env.example'));
const { compose, missing } = loadCompose(envExample);
const services = compose.services;
const serviceNames = Object.keys(services);
const porticoServices = serviceNames.filter((name) => asList(services[name]!.command)[0] === 'serve');

/** The routes file a Portico service runs, read from the repository through its bind mount. */
function routesOf(service: ComposeService): { file: string; text: string } {
  const args = asList(service.command);
  const containerPath = args[args.indexOf('--config') + 1]!;
  const file = hostPathOf(service, containerPath);
  assert.ok(file, `${containerPath} is not mounted from the repository`);
  return { file, text: read(file) };
}

function loadRoutes(text: string, env: Record<string, string>, file: string): Config {
  return loadConfigText(text, { env, file: join(root, file) });
}

const composeRoutes = routesOf(services['portico-1']!);
const composeConfig = loadRoutes(
  composeRoutes.text,
  environmentOf(services['portico-1']!),
  composeRoutes.file,
);

const k8sFiles = readdirSync(join(root, 'deploy/k8s'))
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .map((f) => `deploy/k8s/${f}`);
const manifests = loadManifests(k8sFiles);
const find = (kind: string, name: string) => {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(found, `no ${kind} ${name} in deploy/k8s`);
  return found;
};
const deployment = find('Deployment', 'portico');
const podSpec = deployment.spec.template.spec;
const container = podSpec.containers.find((c: { name: string }) => c.name === 'portico');
const configMap = find('ConfigMap', 'portico-routes');
const secret = find('Secret', 'portico-secrets');

/** The environment the Deployment's container gets (envFrom and env, resolved against the manifests). */
function containerEnv(c: {
  envFrom?: { secretRef?: { name: string }; configMapRef?: { name: string } }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    if (from.secretRef) Object.assign(env, secretValues(find('Secret', from.secretRef.name)));
    if (from.configMapRef) Object.assign(env, find('ConfigMap', from.configMapRef.name).data);
  }
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) {
      const value = secretValues(find('Secret', ref.name))[ref.key];
      assert.ok(value !== undefined, `Secret ${ref.name} has no key ${ref.key}`);
      env[e.name] = value;
    } else env[e.name] = e.value ?? '';
  }
  return env;
}

const configArgs = asList(container.args);
const k8sConfigPath = configArgs[configArgs.indexOf('--config') + 1]!;
const k8sConfig = loadRoutes(
  configMap.data![basename(k8sConfigPath)]!,
  containerEnv(container),
  'deploy/k8s/configmap.yaml',
);

/** Port number of a container port given by name or number. */
function containerPort(c: { ports?: { name?: string; containerPort: number }[] }, port: string | number) {
  if (typeof port === 'number') return port;
  const found = c.ports?.find((p) => p.name === port);
  assert.ok(found, `no container port named ${port}`);
  return found.containerPort;
}

/** Runs a `node -e …` healthcheck (as Docker would, in a process of its own) and answers its exit code. */
async function runNodeCheck(command: string[], env: NodeJS.ProcessEnv = {}): Promise<number | null> {
  assert.equal(command[0], 'node');
  const child = spawn(process.execPath, command.slice(1), {
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return code;
}

describe('the Dockerfile', () => {
  it('builds in two stages from node:24-bookworm-slim: production dependencies first, then the runtime', () => {
    assert.ok(stages.length >= 2, 'a multi-stage build');
    for (const stage of stages)
      if (!stages.some((s) => s.name === stage.image))
        assert.match(stage.image, /^node:24(?:[.-]|$)/, `FROM ${stage.image}`);
    assert.equal(finalStage.name, 'runtime', 'the default target is the runtime');
    const deps = stages[0]!;
    assert.ok(deps.name, 'the dependency stage is named');
    const install = deps.instructions.find((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    assert.ok(install, 'npm ci in the dependency stage');
    assert.match(install.args, /--omit=dev/);
    assert.ok(
      finalStage.instructions.some(
        (i) =>
          i.keyword === 'COPY' && i.args.startsWith(`--from=${deps.name} `) && /node_modules/.test(i.args),
      ),
      'the runtime stage copies node_modules from the dependency stage',
    );
  });

  it('runs as the non-root user 10001', () => {
    const user = lastOf('USER');
    assert.ok(user, 'a USER instruction');
    const [uid, gid] = user.split(':');
    assert.equal(uid, '10001', 'numeric, so Kubernetes can check runAsNonRoot');
    if (gid !== undefined) assert.notEqual(gid, '0');
    assert.ok(instructions('RUN').some((i) => /useradd\b.*--uid 10001\b/.test(i.args)));
  });

  it("fills Node's compile cache at build time, where the runtime reads it, after the code and dependencies", () => {
    const env = Object.fromEntries(instructions('ENV').map((i) => i.args.split('=', 2) as [string, string]));
    const cache = env.NODE_COMPILE_CACHE;
    assert.ok(cache?.startsWith('/app/'), 'NODE_COMPILE_CACHE in the image');
    const all = chainOf(finalStage).flatMap((s) => s.instructions);
    const warm = all.findIndex(
      (i) => i.keyword === 'RUN' && i.args.includes(`scripts/warmCompileCache.ts ${cache}`),
    );
    assert.ok(warm >= 0, 'a RUN of scripts/warmCompileCache.ts into that folder');
    const lastCopy = all.findLastIndex((i) => i.keyword === 'COPY');
    assert.ok(warm > lastCopy, 'after every file the gateway loads is in the image');
    assert.ok(existsSync(join(root, 'scripts/warmCompileCache.ts')));
  });

  it('exposes the port that the compose and Kubernetes routes files listen on', () => {
    assert.deepEqual(lastOf('EXPOSE')?.split(/\s+/), ['8080']);
    assert.equal(composeConfig.listen.port, 8080);
    assert.equal(k8sConfig.listen.port, 8080);
    assert.equal(containerPort(container, 'http'), 8080);
  });

  it("makes the image's default config, the demo routes.yaml, listen on every interface of the container", () => {
    const env = Object.fromEntries(
      instructions('ENV').flatMap((i) => [...i.args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!])),
    );
    assert.equal(env.PORTICO_HOST, '0.0.0.0');
    const config = loadConfigText(read('routes.yaml'), {
      env: {
        ...env,
        SESSION_SECRET: 's'.repeat(40),
        OIDC_CLIENT_SECRET: 'x',
        GHIPPO_CLIENT_SECRET: 'g'.repeat(40),
      },
    });
    assert.equal(config.listen.host, '0.0.0.0');
    assert.equal(String(config.listen.port), lastOf('EXPOSE'));
  });

  it('starts the portico CLI on /etc/portico/routes.yaml and stops it with SIGTERM', () => {
    // With the launcher's V8 flags, so that it does not start itself again to add them.
    const flags = /const NODE_FLAGS = (\[[^\]]*\]);/.exec(read('scripts/portico.js'))?.[1];
    assert.ok(flags, 'scripts/portico.js lists NODE_FLAGS');
    assert.deepEqual(execForm(lastOf('ENTRYPOINT')!), [
      'node',
      ...(JSON.parse(flags.replaceAll("'", '"')) as string[]),
      'scripts/portico.js',
    ]);
    assert.deepEqual(execForm(lastOf('CMD')!), ['serve', '--config', '/etc/portico/routes.yaml']);
    assert.equal(lastOf('STOPSIGNAL'), 'SIGTERM');
    assert.equal(lastOf('WORKDIR'), '/app');
    assert.ok(existsSync(join(root, 'scripts/portico.js')));
  });

  it('copies every file that the gateway and the demo upstreams load', () => {
    const copied = instructions('COPY')
      .filter((i) => !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(' ').slice(0, -1));
    const { files } = importGraph(['scripts/portico.js', 'scripts/demo/upstreams.ts']);
    assert.ok(files.has('gateway/cli.ts'));
    const included = dockerignore(read('.dockerignore'));
    for (const file of files) {
      assert.ok(
        copied.some((c) => file === c || file.startsWith(`${c.replace(/\/$/, '')}/`)),
        `${file} is not copied`,
      );
      assert.ok(included(file), `.dockerignore keeps ${file} out of the build context`);
    }
    for (const file of ['package.json', 'package-lock.json', 'routes.yaml', 'branding/brand.yaml'])
      assert.ok(included(file), `${file} must reach the build`);
    for (const file of ['node_modules/yaml/package.json', '.git/HEAD', 'test/deploy/deploy.test.ts', '.env'])
      assert.ok(!included(file), `${file} must stay out of the build context`);
  });

  it('needs nothing from devDependencies at run time (the image installs with --omit=dev)', () => {
    const { packages } = importGraph(['scripts/portico.js']);
    const devOnly = [...packages].filter((p) => !(p in pkg.dependencies));
    assert.deepEqual(devOnly, [], `imported at run time but not in dependencies: ${devOnly.join(', ')}`);
  });

  it('keeps the demo’s own packages out of the production dependencies, in the demo target only', () => {
    const gateway = importGraph(['scripts/portico.js']).packages;
    const demoOnly = [...importGraph(['scripts/demo/upstreams.ts']).packages].filter((p) => !gateway.has(p));
    for (const p of ['ws', '@xterm/xterm']) {
      assert.ok(!(p in pkg.dependencies), `${p} is a production dependency`);
      assert.ok(p in pkg.devDependencies || !demoOnly.includes(p), `${p} is installed for the demo`);
    }
    const demo = stages.find((s) => s.name === 'demo');
    assert.ok(demo, 'the Dockerfile has a demo target for the upstreams');
    const from = demo.instructions.find((i) => i.keyword === 'COPY' && i.args.startsWith('--from='));
    const source = stages.find((s) => s.name === /^--from=(\S+)/.exec(from?.args ?? '')?.[1]);
    const install = source?.instructions.find((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    assert.ok(install && !install.args.includes('--omit=dev'), 'the demo target installs the demo packages');
  });

  it('checks health with node at an endpoint the gateway serves', async (t) => {
    const check = lastOf('HEALTHCHECK')!;
    const command = execForm(check.slice(check.indexOf('CMD') + 3));
    const defaultUrl = /'(http:\/\/127\.0\.0\.1:(\d+)(\/_portico\/\w+))'/.exec(command.join(' '));
    assert.ok(defaultUrl, 'the healthcheck URL');
    assert.equal(defaultUrl[2], lastOf('EXPOSE'));
    assert.equal(defaultUrl[3], '/_portico/healthz');
    const gw = await startGateway(t, 'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n');
    assert.equal(await runNodeCheck(command, { PORTICO_HEALTHCHECK_URL: `${gw.url}${defaultUrl[3]}` }), 0);
    assert.equal(
      await runNodeCheck(command, { PORTICO_HEALTHCHECK_URL: 'http://127.0.0.1:1/_portico/healthz' }),
      1,
    );
  });
});

describe('docker-compose.yml', () => {
  it('parses, and deploy/.env.example sets every variable it requires', () => {
    assert.deepEqual(missing, []);
    for (const [name, value] of Object.entries(envExample))
      assert.ok(value !== '', `${name} is empty in deploy/.env.example`);
    assert.ok(envExample.SESSION_SECRET!.length >= 32, 'SESSION_SECRET: at least 32 characters');
    assert.ok(envExample.MINIO_ROOT_PASSWORD!.length >= 8, 'MinIO refuses shorter secrets');
    // `docker compose config` needs only the CLI plugin, not an engine; it is not installed here.
    const cli = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
    if (cli.status === 0) {
      const r = spawnSync('docker', ['compose', '--env-file', 'deploy/.env.example', 'config', '--quiet'], {
        cwd: root,
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
    }
  });

  it('runs Portico, a load balancer, Redis, Keycloak, the demo upstreams, Prometheus, Grafana and MinIO', () => {
    for (const name of [
      'lb',
      'redis',
      'keycloak',
      'customer',
      'ai-platform',
      'prometheus',
      'grafana',
      'minio',
      'minio-init',
    ])
      assert.ok(services[name], `service ${name}`);
    assert.deepEqual(porticoServices, ['portico-1', 'portico-2']);
  });

  it('gives every service an image, and builds the Portico image from the Dockerfile', () => {
    for (const [name, s] of Object.entries(services)) {
      assert.ok(typeof s.image === 'string' && s.image !== '', `${name} has an image`);
      if (s.build) {
        const b = typeof s.build === 'string' ? { context: s.build } : s.build;
        assert.ok(
          existsSync(join(root, b.context ?? '.', b.dockerfile ?? 'Dockerfile')),
          `${name}: Dockerfile`,
        );
      } else {
        assert.match(s.image!, /:[\w.-]+$/, `${name}: a pinned tag`);
        assert.doesNotMatch(s.image!, /:latest$/, `${name}: a pinned tag`);
      }
    }
    for (const name of porticoServices)
      assert.equal(services[name]!.image, services['portico-1']!.image, `${name} runs the Portico image`);
    for (const name of ['customer', 'ai-platform']) {
      const b = services[name]!.build;
      assert.equal(
        typeof b === 'object' ? b.target : undefined,
        'demo',
        `${name} runs the image's demo target`,
      );
    }
  });

  it('mounts only files and folders that exist in the repository', () => {
    for (const [name, s] of Object.entries(services))
      for (const m of bindMounts(s)) assert.ok(existsSync(join(root, m.source)), `${name}: ${m.source}`);
  });

  it('gives every long-running service a healthcheck, and orders start-up by conditions', () => {
    for (const [name, s] of Object.entries(services)) {
      if (s.restart === 'no') continue;
      assert.ok(s.healthcheck?.test && !s.healthcheck.disable, `${name} has a healthcheck`);
    }
    for (const [name, s] of Object.entries(services)) {
      const deps = s.depends_on ?? {};
      assert.ok(!Array.isArray(deps), `${name}: depends_on with conditions`);
      for (const [dep, { condition }] of Object.entries(deps)) {
        assert.ok(services[dep], `${name} depends on unknown ${dep}`);
        if (condition === 'service_healthy')
          assert.ok(services[dep]!.healthcheck, `${dep} has no healthcheck`);
        else if (condition === 'service_completed_successfully')
          assert.equal(services[dep]!.restart, 'no', `${dep} runs once`);
        else assert.equal(condition, 'service_started', `${name} → ${dep}`);
      }
    }
    for (const name of porticoServices) {
      const deps = services[name]!.depends_on as Record<string, { condition: string }>;
      assert.equal(deps.redis?.condition, 'service_healthy', `${name} waits for Redis`);
      assert.equal(deps.keycloak?.condition, 'service_healthy', `${name} waits for Keycloak`);
    }
  });

  it('says what each service listens on, and that is what its configuration makes it listen on', () => {
    const listensOn: Record<string, number[]> = {
      redis: [6379],
      prometheus: [9090],
      grafana: [3000],
    };
    for (const name of porticoServices) listensOn[name] = [composeConfig.listen.port];
    for (const name of ['customer', 'ai-platform']) {
      const o = parseUpstreamsArgs(asList(services[name]!.command));
      listensOn[name] = [o.only === 'ai' ? o.aiPort! : o.customerPort!];
    }
    const kc = environmentOf(services.keycloak!);
    listensOn.keycloak = [Number(kc.KC_HTTP_PORT), 9000];
    const minioArgs = asList(services.minio!.command);
    listensOn.minio = ['--address', '--console-address'].map((f) =>
      Number(minioArgs[minioArgs.indexOf(f) + 1]!.replace(/^:/, '')),
    );
    listensOn.lb = [...read('deploy/compose/lb.conf').matchAll(/^\s*listen\s+(\d+)\s*;/gm)].map((m) =>
      Number(m[1]),
    );
    for (const [name, s] of Object.entries(services)) {
      if (s.restart === 'no') continue;
      assert.deepEqual(portsOf(s).sort(), (listensOn[name] ?? []).sort(), `${name}: expose/ports`);
    }
  });

  it('points every service address in its files at a port that service listens on', () => {
    const texts: Record<string, string> = {
      'deploy/compose/routes.compose.yaml': composeRoutes.text,
      'deploy/compose/lb.conf': read('deploy/compose/lb.conf'),
      'deploy/compose/prometheus.yml': read('deploy/compose/prometheus.yml'),
      'deploy/keycloak/realm-portico.json': read('deploy/keycloak/realm-portico.json'),
      'grafana/provisioning/datasources/prometheus.yml': read(
        'grafana/provisioning/datasources/prometheus.yml',
      ),
      'docker-compose.yml (environment, healthchecks, commands)': JSON.stringify(
        Object.fromEntries(
          Object.entries(services).map(([n, s]) => [n, [s.environment, s.command, s.entrypoint]]),
        ),
      ),
    };
    let count = 0;
    for (const [file, text] of Object.entries(texts)) {
      for (const ref of serviceReferences(text, serviceNames)) {
        count++;
        assert.ok(
          portsOf(services[ref.service]!).includes(ref.port),
          `${file}: ${ref.service}:${ref.port}, but ${ref.service} listens on ${portsOf(services[ref.service]!).join(', ')}`,
        );
      }
    }
    assert.ok(count >= 10, `service addresses found: ${count}`);
    // Prometheus scrapes every replica, with the job and path of prometheus/prometheus.yml.
    type Scrape = {
      scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[];
    };
    const scrape = (parse(read('deploy/compose/prometheus.yml')) as Scrape).scrape_configs[0]!;
    const base = (parse(read('prometheus/prometheus.yml')) as Scrape).scrape_configs[0]!;
    assert.equal(scrape.job_name, base.job_name);
    assert.equal(scrape.metrics_path, base.metrics_path);
    assert.deepEqual(
      scrape.static_configs.flatMap((c) => c.targets).sort(),
      porticoServices.map((n) => `${n}:${composeConfig.listen.port}`),
    );
    // Grafana's dashboards folder is where its provisioning says.
    const provider = parse(read('grafana/provisioning/dashboards/portico.yml')) as {
      providers: { options: { path: string } }[];
    };
    const grafanaMounts = bindMounts(services.grafana!);
    assert.ok(
      grafanaMounts.some(
        (m) => m.target === provider.providers[0]!.options.path && m.source === 'grafana/dashboards',
      ),
    );
    assert.ok(
      grafanaMounts.some(
        (m) => m.target === '/etc/grafana/provisioning' && m.source === 'grafana/provisioning',
      ),
    );
  });

  it('mounts a routes file that Portico accepts with the .env.example values, the same for both replicas', () => {
    assert.equal(composeRoutes.file, 'deploy/compose/routes.compose.yaml');
    const [first, ...others] = porticoServices.map((n) => services[n]!);
    for (const other of others) {
      assert.deepEqual(other.command, first!.command);
      assert.deepEqual(other.environment, first!.environment);
      assert.equal(routesOf(other).file, composeRoutes.file);
      const config = bindMounts(other).find((m) => m.source === dirname(composeRoutes.file))!;
      assert.ok(config.readOnly, 'the config folder is mounted read-only');
    }
    assert.equal(composeConfig.raw.session?.store, 'redis', 'replicas share sessions through Redis');
    assert.equal(composeConfig.publicUrl?.origin, envExample.PORTICO_PUBLIC_URL);
    const redisUrl = new URL(environmentOf(first!).REDIS_URL!);
    assert.equal(redisUrl.hostname, 'redis');
    assert.equal(decodeURIComponent(redisUrl.password), envExample.REDIS_PASSWORD);
    assert.ok(
      asList(services.redis!.command).join(' ').includes(`--requirepass ${envExample.REDIS_PASSWORD}`),
      'Redis asks for the password Portico sends',
    );
  });

  it('publishes the load balancer at PORTICO_PUBLIC_URL and believes X-Forwarded-* from it only', () => {
    const publicUrl = new URL(envExample.PORTICO_PUBLIC_URL!);
    const lbPort = portsOf(services.lb!)[0]!;
    assert.equal(String(publishedPorts(services.lb!).get(lbPort)), publicUrl.port || '80');
    const upstreams = [...read('deploy/compose/lb.conf').matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)].map(
      (m) => `${m[1]}:${m[2]}`,
    );
    assert.deepEqual(
      upstreams,
      porticoServices.map((n) => `${n}:${composeConfig.listen.port}`),
    );
    const lbAddress = (services.lb!.networks as Record<string, { ipv4_address: string }>).default!
      .ipv4_address;
    assert.deepEqual(composeConfig.raw.trustProxy, [lbAddress]);
    const ipam = compose.networks!.default!.ipam!.config![0]!;
    const inRange = (ip: string, cidr: string) => {
      const [base, bits] = cidr.split('/');
      const n = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
      const size = 2 ** (32 - Number(bits));
      return n(ip) >= n(base!) && n(ip) < n(base!) + size;
    };
    for (const name of ['lb', ...porticoServices]) {
      const ip = (services[name]!.networks as Record<string, { ipv4_address: string }>).default!.ipv4_address;
      assert.ok(inRange(ip, ipam.subnet!), `${name} ${ip} in ${ipam.subnet}`);
      assert.ok(!inRange(ip, ipam.ip_range!), `${name} ${ip} outside the dynamic range ${ipam.ip_range}`);
    }
  });

  it('keeps the metrics endpoint off the load balancer and passes WebSockets for as long as the routes allow', () => {
    const lb = read('deploy/compose/lb.conf');
    assert.match(lb, /location = \/_portico\/metrics \{\s*return 404;/);
    assert.match(lb, /proxy_set_header Upgrade \$http_upgrade;/);
    assert.match(lb, /proxy_set_header Connection \$connection_upgrade;/);
    const timeout = Number(/proxy_read_timeout (\d+)s;/.exec(lb)?.[1]);
    const longest = Math.max(...composeConfig.routes.map((r) => r.idleTimeoutMs / 1000));
    assert.ok(timeout >= longest, `proxy_read_timeout ${timeout}s < the routes' idle ${longest}s`);
  });

  it('gives Keycloak one issuer URL for the browser and for Portico', () => {
    const kc = environmentOf(services.keycloak!);
    const idp = composeConfig.raw.identityProviders![0]! as unknown as { id: string; issuer: string };
    const issuer = new URL(idp.issuer);
    assert.equal(kc.KC_HOSTNAME, issuer.origin, 'KC_HOSTNAME is the issuer origin');
    assert.equal(issuer.hostname, 'keycloak', 'the compose service name');
    assert.equal(Number(issuer.port), Number(kc.KC_HTTP_PORT), 'Keycloak listens on the issuer port');
    assert.equal(
      publishedPorts(services.keycloak!).get(Number(kc.KC_HTTP_PORT)),
      Number(issuer.port),
      'and the host too',
    );
    assert.equal(issuer.pathname, '/realms/portico');
    assert.deepEqual(asList(services.keycloak!.command), ['start-dev', '--import-realm']);
  });
});

describe('the Keycloak realm (deploy/keycloak/realm-portico.json)', () => {
  const kcEnv = environmentOf(services.keycloak!);
  const text = read('deploy/keycloak/realm-portico.json');
  const placeholders = [...text.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]!);
  type Realm = {
    realm: string;
    clientScopes?: unknown;
    groups: { name: string }[];
    users: {
      username: string;
      email: string;
      firstName: string;
      lastName: string;
      groups: string[];
      credentials: { type: string; value: string; temporary: boolean }[];
    }[];
    clients: {
      clientId: string;
      secret: string;
      publicClient: boolean;
      standardFlowEnabled: boolean;
      redirectUris: string[];
      attributes: Record<string, string>;
      protocolMappers: { protocolMapper: string; config: Record<string, string> }[];
    }[];
  };
  const realm = JSON.parse(interpolate(text, kcEnv, [])) as Realm;
  const client = realm.clients.find((c) => c.clientId === 'portico')!;
  const idp = composeConfig.raw.identityProviders![0]! as unknown as {
    id: string;
    issuer: string;
    clientId: string;
    clientSecret: string;
    scopes: string[];
  };

  it('is imported by the keycloak service, whose environment fills in every placeholder', () => {
    const mount = bindMounts(services.keycloak!).find(
      (m) => m.source === 'deploy/keycloak/realm-portico.json',
    );
    assert.ok(mount?.target.startsWith('/opt/keycloak/data/import/') && mount.target.endsWith('.json'));
    assert.deepEqual([...new Set(placeholders)].sort(), ['OIDC_CLIENT_SECRET', 'PORTICO_PUBLIC_URL']);
    for (const name of new Set(placeholders)) assert.ok(kcEnv[name], `keycloak's environment sets ${name}`);
    assert.equal(realm.realm, new URL(idp.issuer).pathname.split('/').at(-1));
  });

  it('has the confidential client Portico signs in with, and its callback and logout URLs', () => {
    assert.ok(client, 'client portico');
    assert.equal(client.clientId, idp.clientId);
    assert.equal(client.publicClient, false);
    assert.equal(client.standardFlowEnabled, true);
    assert.equal(client.secret, idp.clientSecret, 'the secret Portico sends');
    const publicUrl = composeConfig.publicUrl!.origin;
    assert.deepEqual(client.redirectUris, [`${publicUrl}/_portico/callback/${idp.id}`]);
    assert.equal(client.attributes['post.logout.redirect.uris'], `${publicUrl}/_portico/logged-out`);
    assert.equal(client.attributes['pkce.code.challenge.method'], 'S256');
    // Keycloak calls back from inside the compose network: the load balancer, not localhost.
    const backchannel = new URL(client.attributes['backchannel.logout.url']!);
    assert.equal(backchannel.pathname, `/_portico/backchannel-logout/${idp.id}`);
    assert.equal(backchannel.hostname, 'lb');
  });

  it('has alice in ai-users and bob outside it, like the demo IdP that stands in for it', () => {
    const groupNames = realm.groups.map((g) => g.name);
    for (const demo of DEFAULT_USERS) {
      const user = realm.users.find((u) => u.username === demo.username);
      assert.ok(user, `user ${demo.username}`);
      assert.deepEqual(user.groups.map((g) => g.replace(/^\//, '')).sort(), [...demo.groups].sort());
      for (const g of user.groups) assert.ok(groupNames.includes(g.replace(/^\//, '')), `group ${g} exists`);
      assert.equal(user.email, demo.email);
      assert.ok(user.firstName && user.lastName, 'no profile form at the first login');
      assert.deepEqual(user.credentials, [{ type: 'password', value: demo.password, temporary: false }]);
    }
    const allowed = composeConfig.routes.find((r) => r.id === 'ai-platform')!.allow!.groups!;
    assert.deepEqual(allowed, ['ai-users']);
  });

  it('puts a groups claim in the tokens through a mapper on the client, so Portico asks only for built-in scopes', () => {
    const mapper = client.protocolMappers.find((m) => m.protocolMapper === 'oidc-group-membership-mapper');
    assert.ok(mapper, 'a group membership mapper');
    assert.equal(mapper.config['claim.name'], 'groups');
    assert.equal(mapper.config['full.path'], 'false', 'ai-users, not /ai-users');
    assert.equal(mapper.config['id.token.claim'], 'true');
    // Keycloak refuses a scope it does not know (invalid_scope), and a realm file that lists any
    // clientScopes loses Keycloak's built-in ones (profile, email, basic with `sub`).
    assert.equal(realm.clientScopes, undefined);
    for (const scope of idp.scopes)
      assert.ok(['openid', 'profile', 'email'].includes(scope), `scope ${scope}`);
  });
});

describe('the Kubernetes manifests (deploy/k8s)', () => {
  it('parse, each with a kind, a name and the portico namespace, all listed in kustomization.yaml', () => {
    assert.ok(manifests.length >= 8);
    for (const m of manifests) {
      assert.ok(m.apiVersion && m.kind && m.metadata?.name, `${m.file}: apiVersion, kind, metadata.name`);
      if (m.kind !== 'Namespace') assert.equal(m.metadata.namespace, 'portico', `${m.file} ${m.kind}`);
    }
    const kustomization = parse(read('deploy/k8s/kustomization.yaml')) as { resources: string[] };
    assert.deepEqual(kustomization.resources.map((r) => `deploy/k8s/${r}`).sort(), [...k8sFiles].sort());
  });

  it('lets only the ingress controller reach Portico, and only Portico reach Redis (NetworkPolicy)', () => {
    const portico = find('NetworkPolicy', 'portico');
    const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
    for (const [k, v] of Object.entries(portico.spec.podSelector.matchLabels as Record<string, string>))
      assert.equal(podLabels[k], v, `the policy selects the Deployment's pods (${k})`);
    const rules = portico.spec.ingress as { from: unknown[]; ports: { port: number }[] }[];
    assert.deepEqual(
      rules.map((r) => r.ports.map((p) => p.port)),
      [[8080], [9464]],
    );
    assert.ok(
      rules.every((r) => r.from.length > 0),
      'every rule names who may connect',
    );
    const redis = find('NetworkPolicy', 'redis');
    assert.deepEqual(redis.spec.ingress[0].from, [
      { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'portico' } } },
    ]);
  });

  it('builds with `kubectl kustomize` when kubectl is installed', (t) => {
    const r = spawnSync('kubectl', ['kustomize', join(root, 'deploy/k8s')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (r.error) {
      t.skip('kubectl is not installed');
      return;
    }
    assert.equal(r.status, 0, r.stderr);
    const kinds = [...r.stdout.matchAll(/^kind: (\w+)$/gm)].map((m) => m[1]);
    assert.equal(kinds.length, manifests.length);
  });

  it('runs at least two replicas, never fewer during a rolling update', () => {
    assert.ok(deployment.spec.replicas >= 2);
    assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
  });

  it('runs as the image user, without root, privileges or a writable root filesystem', () => {
    const pod = podSpec.securityContext;
    assert.equal(pod.runAsNonRoot, true);
    assert.equal(String(pod.runAsUser), lastOf('USER')!.split(':')[0], 'the Dockerfile USER');
    const c = container.securityContext;
    assert.equal(c.readOnlyRootFilesystem, true);
    assert.equal(c.allowPrivilegeEscalation, false);
    assert.deepEqual(c.capabilities.drop, ['ALL']);
    const mounts = container.volumeMounts as { name: string; mountPath: string }[];
    const tmp = mounts.find((m) => m.mountPath === '/tmp');
    assert.ok(tmp, '/tmp is writable');
    assert.ok(
      podSpec.volumes.find((v: { name: string }) => v.name === tmp.name).emptyDir,
      '/tmp is an emptyDir',
    );
    assert.ok(container.resources.requests.cpu && container.resources.limits.memory);
  });

  it('probes /_portico/readyz and /_portico/healthz on the port the routes file listens on', async (t) => {
    const probes = {
      readiness: container.readinessProbe,
      liveness: container.livenessProbe,
      startup: container.startupProbe,
    };
    assert.equal(probes.readiness.httpGet.path, '/_portico/readyz');
    assert.equal(probes.liveness.httpGet.path, '/_portico/healthz');
    assert.ok(probes.startup, 'a startup probe');
    for (const [name, probe] of Object.entries(probes))
      assert.equal(containerPort(container, probe.httpGet.port), k8sConfig.listen.port, `${name} probe port`);
    // Those paths are Portico's own endpoints.
    const gw = await startGateway(t, 'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n');
    for (const probe of Object.values(probes)) {
      const res = await fetch(`${gw.url}${probe.httpGet.path}`);
      assert.equal(res.status, 200, probe.httpGet.path);
    }
  });

  it('drains before it stops: a preStop pause, then up to 25 s of drain within the grace period', () => {
    assert.equal(podSpec.terminationGracePeriodSeconds, 30);
    const preStop = asList(container.lifecycle.preStop.exec.command);
    assert.equal(preStop[0], 'sleep');
    assert.ok(Number(preStop[1]) + 25 <= podSpec.terminationGracePeriodSeconds);
  });

  it('mounts the ConfigMap as a folder, so an update reaches the running gateway', () => {
    const mount = (container.volumeMounts as { name: string; mountPath: string; subPath?: string }[]).find(
      (m) => m.mountPath === dirname(k8sConfigPath),
    );
    assert.ok(mount, `a volume at ${dirname(k8sConfigPath)}`);
    assert.equal(mount.subPath, undefined, 'a subPath mount never receives updates');
    const volume = podSpec.volumes.find((v: { name: string }) => v.name === mount.name);
    assert.equal(volume.configMap.name, configMap.metadata.name);
    assert.ok(configMap.data![basename(k8sConfigPath)]);
  });

  it('has a ConfigMap whose routes.yaml Portico accepts with the values of the Secret', () => {
    assert.equal(k8sConfig.raw.session?.store, 'redis', 'replicas share sessions through Redis');
    assert.ok(k8sConfig.publicUrl, 'publicUrl');
    assert.ok(Array.isArray(k8sConfig.raw.trustProxy), 'trustProxy lists the load balancer');
    for (const key of ['SESSION_SECRET', 'OIDC_CLIENT_SECRET', 'REDIS_URL'])
      assert.ok(secretValues(secret)[key], `the Secret has ${key}`);
  });

  it('selects the Deployment pods from the Service, the PodDisruptionBudget and the autoscaler', () => {
    const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
    const matches = (selector: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => podLabels[k] === v);
    assert.ok(matches(deployment.spec.selector.matchLabels));
    const service = find('Service', 'portico');
    assert.ok(matches(service.spec.selector), 'Service selector');
    for (const port of service.spec.ports)
      assert.equal(containerPort(container, port.targetPort), k8sConfig.listen.port, 'Service targetPort');
    const pdb = find('PodDisruptionBudget', 'portico');
    assert.deepEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
    assert.equal(pdb.spec.minAvailable, 1);
    assert.ok(pdb.spec.minAvailable < deployment.spec.replicas, 'a node drain can proceed');
    const hpa = find('HorizontalPodAutoscaler', 'portico');
    assert.equal(hpa.spec.scaleTargetRef.kind, 'Deployment');
    assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name);
    assert.ok(hpa.spec.minReplicas >= 2);
    assert.equal(hpa.spec.metrics[0].resource.target.averageUtilization, 70);
    const ingress = find('Ingress', 'portico');
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    assert.equal(backend.name, service.metadata.name);
    assert.ok(service.spec.ports.some((p: { name: string }) => p.name === backend.port.name));
    assert.equal(ingress.spec.rules[0].host, k8sConfig.publicUrl!.hostname);
  });

  it('scrapes metrics on the port the routes file serves them on', () => {
    const annotations = deployment.spec.template.metadata.annotations as Record<string, string>;
    const metrics = k8sConfig.raw.metrics as { listen: { port: number } };
    assert.equal(Number(annotations['prometheus.io/port']), metrics.listen.port);
    assert.equal(containerPort(container, 'metrics'), metrics.listen.port);
  });

  it('has a single, non-HA Redis at the address REDIS_URL names, with the Secret password', () => {
    const url = new URL(secretValues(secret).REDIS_URL!);
    const service = find('Service', url.hostname);
    const redis = find('Deployment', 'redis');
    assert.equal(redis.spec.replicas, 1);
    assert.match(read('deploy/k8s/redis.yaml'), /NOT highly available/);
    const c = redis.spec.template.spec.containers[0];
    assert.equal(service.spec.ports[0].port, Number(url.port));
    assert.equal(containerPort(c, service.spec.ports[0].targetPort), 6379);
    assert.equal(decodeURIComponent(url.password), secretValues(secret).REDIS_PASSWORD);
    assert.ok(c.args.includes('$(REDIS_PASSWORD)'));
  });

  it('starts natively with the container args, environment and mounted ConfigMap, and answers its probes and metrics', async (t) => {
    // The pod, without a cluster: the ConfigMap's files in a folder standing for the mount, the
    // repository for the image's working folder, the Secret's values with the machine's Redis.
    const redisUrl = await sharedRedisUrl();
    const workdir = lastOf('WORKDIR')!;
    const configDir = mkdtempSync(join(tmpdir(), 'portico-pod-'));
    t.after(() => rmSync(configDir, { recursive: true, force: true }));
    const metrics = k8sConfig.raw.metrics as { listen: { port: number } };
    const [port, metricsPort] = [await freePort(), await freePort()];
    for (const [key, value] of Object.entries(configMap.data!)) {
      const local = value.replace(`port: ${metrics.listen.port} }`, `port: ${metricsPort} }`);
      if (key === basename(k8sConfigPath))
        assert.notEqual(local, value, 'the metrics port is moved to a free one');
      writeFileSync(join(configDir, key), local);
    }
    const localPath = (arg: string) =>
      arg.startsWith(`${dirname(k8sConfigPath)}/`)
        ? join(configDir, arg.slice(dirname(k8sConfigPath).length + 1))
        : arg.startsWith(`${workdir}/`)
          ? join(root, arg.slice(workdir.length + 1))
          : arg;
    const entrypoint = execForm(lastOf('ENTRYPOINT')!);
    const child = spawn(
      process.execPath,
      [...entrypoint.slice(1), ...configArgs.map(localPath), '--port', String(port), '--host', '127.0.0.1'],
      {
        cwd: root,
        env: { ...process.env, ...containerEnv(container), REDIS_URL: redisUrl },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c));
    child.stderr!.on('data', (c: Buffer) => (output += c));
    t.after(() => child.kill('SIGKILL'));
    const probe = async (p: { httpGet: { path: string } }) =>
      fetch(`http://127.0.0.1:${port}${p.httpGet.path}`).then(
        (r) => r.status,
        () => 0,
      );
    // Started as the manifest starts it, on the port the probes name: ask until the probe passes.
    await eventually(
      () => probe(container.startupProbe),
      (status) => status === 200 || child.exitCode !== null,
      { timeoutMs: 7500, intervalMs: 50 },
    );
    assert.equal(child.exitCode, null, `portico exited:\n${output}`);
    assert.equal(await probe(container.startupProbe), 200, output);
    assert.equal(await probe(container.livenessProbe), 200);
    const annotations = deployment.spec.template.metadata.annotations as Record<string, string>;
    const scraped = await fetch(`http://127.0.0.1:${metricsPort}${annotations['prometheus.io/path']}`);
    assert.equal(scraped.status, 200);
    assert.match(await scraped.text(), /^portico_/m);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, `drains and exits 0 on SIGTERM:\n${output}`);
  });

  it('hot-reloads a routes.yaml that is swapped in the way the kubelet updates a ConfigMap', async (t) => {
    // The kubelet's atomic writer: files live in ..<timestamp>/, ..data points at the current
    // one, routes.yaml points through ..data; an update writes a new folder and renames a new
    // ..data symlink over the old one.
    const dir = mkdtempSync(join(tmpdir(), 'portico-configmap-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const version = (name: string, yaml: string) => {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'routes.yaml'), yaml);
    };
    const first = 'routes:\n  - { id: a, path: /, upstream: "http://127.0.0.1:9/" }\n';
    const second = `${first}  - { id: b, path: /b/, upstream: "http://127.0.0.1:9/" }\n`;
    version('..2025_01_01_00_00_00.1', first);
    symlinkSync('..2025_01_01_00_00_00.1', join(dir, '..data'));
    symlinkSync('..data/routes.yaml', join(dir, 'routes.yaml'));
    const gateway = createGateway({
      configFile: join(dir, 'routes.yaml'),
      logger: pino({ level: 'silent' }),
    });
    t.after(() => gateway.close(100));
    assert.equal(gateway.config().routes.length, 1);
    const reloaded = nextEvent(gateway.events, 'configReload', (e) => e.ok);
    version('..2025_01_01_00_01_00.2', second);
    symlinkSync('..2025_01_01_00_01_00.2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await reloaded;
    assert.equal(gateway.config().routes.length, 2, 'the new routes.yaml is live');
  });
});

describe('scripts/demo/upstreams.ts (the demo upstreams as compose and Kubernetes services)', () => {
  it('reads ports, the listen address and --only, and refuses anything else', () => {
    assert.deepEqual(parseUpstreamsArgs(['--only', 'ai', '--ai-port', '0', '--host', '0.0.0.0']), {
      customerPort: undefined,
      aiPort: 0,
      host: '0.0.0.0',
      only: 'ai',
      help: false,
    });
    assert.throws(
      () => parseUpstreamsArgs(['--customer-port', '70000']),
      /--customer-port must be a port number/,
    );
    assert.throws(() => parseUpstreamsArgs(['--only', 'idp']), /--only must be "customer" or "ai"/);
    assert.throws(() => parseUpstreamsArgs(['--bogus']), /Unknown option/);
  });

  it('exits 2 with its usage on a bad command line', () => {
    const r = spawnSync(process.execPath, ['scripts/demo/upstreams.ts', '--ai-port', 'x'], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--ai-port must be a port number/);
    assert.match(r.stderr, /Usage: node scripts\/demo\/upstreams\.ts/);
  });
});
