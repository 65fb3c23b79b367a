// The forward-auth configs for the engines that do not run here (ingress-nginx, Traefik, Envoy):
// well-formed, and saying what Portico's answer means — the same check URL, the same header names
// as Portico's identity headers, the check hidden from clients. nginx itself runs in the other
// tests of this folder, on deploy/nginx/ as shipped.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { compileConfig } from '../../gateway/config/compile.ts';
import { METHOD_OVERRIDES } from '../../gateway/proxy/forwardedHeaders.ts';

const root = join(import.meta.dirname, '..', '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');

/** The header names Portico answers by default (identity headers, the assertion) and what the upstream gets. */
const defaults = compileConfig(
  { routes: [{ id: 'x', path: '/', upstream: 'http://127.0.0.1:9/' }] },
  '',
  undefined,
  root,
);
const ANSWERED = [
  ...Object.values(defaults.identityHeaders),
  defaults.jwt.header,
  'Authorization',
  'Cookie',
  'X-HTTP-Method-Override',
  'X-HTTP-Method',
  'X-Method-Override',
].map((n) => n.toLowerCase());
const lower = (names: string[]) => names.map((n) => n.trim().toLowerCase());

/** A YAML file parsed strictly: any error or warning fails. */
function yamlOf(file: string): unknown {
  const docs = parseAllDocuments(read(file));
  for (const d of docs) assert.deepEqual([...d.errors, ...d.warnings], [], file);
  return docs.length === 1 ? docs[0]!.toJS() : docs.map((d) => d.toJS());
}

describe('the forward-auth configs', () => {
  it('nginx: every answered header is read and set in each protected location', () => {
    const snippet = read('deploy/nginx/snippets/portico-auth.conf');
    for (const name of ANSWERED) {
      const variable = new RegExp(
        `^auth_request_set\\s+\\$(\\w+)\\s+\\$upstream_http_${name.replace(/-/g, '_')};`,
        'm',
      ).exec(snippet)?.[1];
      assert.ok(variable, `auth_request_set for ${name}`);
      assert.match(snippet, new RegExp(`^proxy_set_header\\s+${name}\\s+\\$${variable};`, 'im'), name);
    }
    const shipped = read('deploy/nginx/portico.conf');
    const locations = [...shipped.matchAll(/^\s*location\s+(\S+)\s*\{([^}]*)\}/gm)];
    assert.deepEqual(
      locations.map((l) => l[1]),
      ['/dce5/', '/'],
    );
    for (const [, path, body] of locations)
      assert.match(body!, /include snippets\/portico-auth\.conf;/, `location ${path} is checked`);
    assert.match(shipped, /^\s*include snippets\/portico-server\.conf;/m);
    const server = read('deploy/nginx/snippets/portico-server.conf');
    assert.match(server, /location = \/_portico\/auth \{\s*internal;/);
    assert.match(server, /proxy_set_header X-Original-URI \$request_uri;/);
  });

  it('Traefik: ForwardAuth at /_portico/auth, first on every product, copying every answered header', () => {
    const config = yamlOf('deploy/traefik/portico.yml') as {
      http: {
        middlewares: Record<string, Record<string, Record<string, unknown>>>;
        routers: Record<string, { rule: string; middlewares?: string[]; service: string }>;
      };
    };
    const auth = config.http.middlewares['portico-auth']!.forwardAuth!;
    assert.equal(new URL(auth.address as string).pathname, '/_portico/auth');
    assert.equal(auth.trustForwardHeader, false);
    assert.equal(auth.preserveLocationHeader, true, 'the login redirect stays on the public host');
    // Every answered name, and every spelling of an identity header with `_` for `-` (removed).
    const spellings = (name: string): string[] => {
      const parts = name.split('-');
      let out = [parts[0]!];
      for (const part of parts.slice(1)) out = out.flatMap((p) => [`${p}-${part}`, `${p}_${part}`]);
      return out;
    };
    const identity = ANSWERED.filter(
      (n) => n.startsWith('x-forwarded') || n === 'x-portico-assertion' || METHOD_OVERRIDES.includes(n),
    );
    assert.deepEqual(
      lower(auth.authResponseHeaders as string[]).sort(),
      [...ANSWERED, ...identity.flatMap(spellings).filter((n) => n.includes('_'))].sort(),
    );
    for (const needed of ['cookie', 'authorization', 'accept'])
      assert.ok(lower(auth.authRequestHeaders as string[]).includes(needed), needed);
    const routers = config.http.routers;
    for (const [name, router] of Object.entries(routers)) {
      if (router.rule.includes('/_portico/')) continue;
      assert.equal(router.middlewares?.[0], 'portico-auth', `${name}: the check sees the path as sent`);
    }
    assert.match(routers['portico-check']!.rule, /Path\(`\/_portico\/auth`\)/);
    assert.ok(routers['portico-check']!.middlewares?.includes('portico-check-hidden'));
  });

  it('Envoy: ext_authz on /_portico/auth with the original path, never through to clients, every answered header upstream', () => {
    const config = yamlOf('deploy/envoy/envoy.yaml') as {
      static_resources: {
        listeners: { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] }[];
      };
    };
    const hcm = config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config as {
      http_filters: { name: string; typed_config: Record<string, unknown> }[];
      route_config: {
        virtual_hosts: {
          routes: {
            match: { prefix: string };
            direct_response?: { status: number };
            typed_per_filter_config?: unknown;
          }[];
        }[];
      };
    };
    const filter = hcm.http_filters.find((f) => f.name === 'envoy.filters.http.ext_authz')!.typed_config as {
      failure_mode_allow: boolean;
      http_service: {
        path_prefix: string;
        authorization_request: { allowed_headers: { patterns: { exact: string }[] } };
        authorization_response: { allowed_upstream_headers: { patterns: { exact: string }[] } };
      };
    };
    assert.equal(hcm.http_filters.at(-1)!.name, 'envoy.filters.http.router');
    assert.equal(
      (hcm as { common_http_protocol_options?: { headers_with_underscores_action?: string } })
        .common_http_protocol_options?.headers_with_underscores_action,
      'DROP_HEADER',
      'X_Forwarded_User never reaches a product',
    );
    assert.equal(filter.failure_mode_allow, false);
    assert.equal(filter.http_service.path_prefix, '/_portico/auth');
    const upstream = filter.http_service.authorization_response.allowed_upstream_headers.patterns.map(
      (p) => p.exact,
    );
    assert.deepEqual([...upstream].sort(), [...ANSWERED].sort());
    const sent = filter.http_service.authorization_request.allowed_headers.patterns.map((p) => p.exact);
    for (const needed of ['cookie', 'accept']) assert.ok(sent.includes(needed), needed);
    const routes = hcm.route_config.virtual_hosts[0]!.routes;
    const disabled = (r: (typeof routes)[number]) =>
      JSON.stringify(r.typed_per_filter_config ?? {}).includes('"disabled":true');
    assert.equal(routes[0]!.match.prefix, '/_portico/auth');
    assert.equal(routes[0]!.direct_response?.status, 404);
    assert.ok(disabled(routes[0]!));
    assert.equal(routes[1]!.match.prefix, '/_portico/');
    assert.ok(disabled(routes[1]!), "Portico's own pages are never checked");
    for (const r of routes.slice(2)) assert.ok(!disabled(r), `${r.match.prefix} is checked`);
  });

  it('ingress-nginx: the overlay builds, asks the Portico Service, signs in with rd= the original URI, copies every answered header', (t) => {
    const docs = [
      ...(yamlOf('deploy/k8s-forward-auth/ingress.yaml') as unknown[]),
      ...(yamlOf('deploy/k8s-forward-auth/upstreams.yaml') as unknown[]),
    ] as unknown as {
      kind: string;
      metadata: { name: string; annotations?: Record<string, string> };
      spec: { rules: { http: { paths: { path: string; backend: { service: { name: string } } }[] } }[] };
    }[];
    const service = parse(read('deploy/k8s/service.yaml')) as {
      metadata: { name: string; namespace: string };
      spec: { ports: { port: number }[] };
    };
    const checkUrl = `http://${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local:${service.spec.ports[0]!.port}/_portico/auth`;
    const routesYaml = (parse(read('deploy/k8s/configmap.yaml')) as { data: Record<string, string> }).data[
      'routes.yaml'
    ]!;
    const routePaths = (parse(routesYaml) as { routes: { path: string }[] }).routes.map((r) => r.path);
    const ingresses = docs.filter((d) => d.kind === 'Ingress');
    const checked = ingresses.filter((i) => i.metadata.annotations?.['nginx.ingress.kubernetes.io/auth-url']);
    assert.equal(checked.length, 2);
    for (const ingress of checked) {
      const a = ingress.metadata.annotations!;
      assert.equal(a['nginx.ingress.kubernetes.io/auth-url'], checkUrl);
      assert.match(
        a['nginx.ingress.kubernetes.io/auth-signin']!,
        /\/_portico\/login\?rd=\$escaped_request_uri$/,
      );
      assert.deepEqual(
        lower(a['nginx.ingress.kubernetes.io/auth-response-headers']!.split(',')).sort(),
        [...ANSWERED].sort(),
      );
      // Each product path is a route of routes.yaml: Portico decides on what the Ingress serves.
      for (const rule of ingress.spec.rules)
        for (const p of rule.http.paths) {
          const prefix = p.path.replace('(/|$)(.*)', '/');
          assert.ok(routePaths.includes(prefix), `${p.path} has a route in routes.yaml`);
        }
    }
    const pages = ingresses.find((i) => i.metadata.name === 'portico-pages')!;
    assert.equal(pages.metadata.annotations?.['nginx.ingress.kubernetes.io/auth-url'], undefined);
    assert.equal(pages.spec.rules[0]!.http.paths[0]!.backend.service.name, service.metadata.name);

    const built = spawnSync('kubectl', ['kustomize', join(root, 'deploy/k8s-forward-auth')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (built.error) {
      t.skip('kubectl is not installed');
      return;
    }
    assert.equal(built.status, 0, built.stderr);
    const kinds = parseAllDocuments(built.stdout).map(
      (d) => d.toJS() as { kind: string; metadata: { name: string } },
    );
    const names = kinds
      .filter((k) => k.kind === 'Ingress')
      .map((k) => k.metadata.name)
      .sort();
    assert.deepEqual(
      names,
      ['ai-platform', 'customer-system', 'portico-pages'],
      'the base Ingress (Portico as the proxy) is replaced',
    );
    assert.ok(
      kinds.some((k) => k.kind === 'Deployment' && k.metadata.name === 'portico'),
      'the base is included',
    );
  });
});
