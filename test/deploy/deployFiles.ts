// Readers for the deployment files (Dockerfile, .dockerignore, docker-compose.yml, .env, nginx
// and Kubernetes YAML) for test/deploy. There is no Docker engine on the test machines, so the
// files are read the way Docker and Compose read them, closely enough to check what matters:
// what goes into the image, which service listens where, which values reach Portico.
import { existsSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export const root = resolve(import.meta.dirname, '..', '..');
export const read = (file: string) => readFileSync(join(root, file), 'utf8');

// ---------------------------------------------------------------------------------------------
// Dockerfile

export type Instruction = { keyword: string; args: string; line: number };
export type Stage = { image: string; name?: string; instructions: Instruction[] };

/** Instructions in order (continuation lines joined, comments dropped), grouped by stage. */
export function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  let pending = '';
  let startLine = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trim().startsWith('#'))) return;
    if (pending !== '' && line.trim().startsWith('#')) return; // comments inside a continuation
    if (pending === '') startLine = i + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/s.exec(full)!;
    instructions.push({
      keyword: m[1]!.toUpperCase(),
      args: m[2]!.replace(/\s+/g, ' ').trim(),
      line: startLine,
    });
  });
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile:${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ image: m[1]!, name: m[2], instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`Dockerfile:${ins.line}: ${ins.keyword} before FROM`);
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return stages;
}

/** The JSON (exec) form of CMD, ENTRYPOINT or HEALTHCHECK … CMD; throws for the shell form. */
export function execForm(args: string): string[] {
  const json = args.slice(args.indexOf('['));
  const value = JSON.parse(json) as unknown;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new Error(`not an exec-form array: ${args}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// .dockerignore (Docker's rules: patterns relative to the context, `**` any depth, `!` lets a
// path back in, the last matching line wins, a pattern that matches a folder matches its files)

export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
      const source = pattern
        .split('/')
        .map((part) =>
          part === '**'
            ? '.*'
            : part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      return { negate, re: new RegExp(`^${source}$`) };
    });
  /** Whether `path` (relative to the context) is sent to the builder. */
  return (path: string) => {
    const parts = path.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) {
      if (prefixes.some((p) => rule.re.test(p))) excluded = !rule.negate;
    }
    return !excluded;
  };
}

// ---------------------------------------------------------------------------------------------
// What the entry points load: files (relative imports) and packages (bare imports)

const IMPORT_RE = /^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
const DYNAMIC_RE = /\b(?:import|require(?:\.resolve)?)\(\s*['"]([^'"]+)['"]\s*\)/g;

export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * Follows the imports of `entries` (paths relative to the repository) through the repository's
 * own files. `import type` is left out: Node strips it. `import { type A }` is kept, as Node
 * keeps such a statement (as `import {} from …`).
 */
export function importGraph(entries: string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const text = read(file);
    const specifiers: string[] = [];
    for (const m of text.matchAll(IMPORT_RE)) if (!m[1]) specifiers.push(m[2]!);
    for (const m of text.matchAll(DYNAMIC_RE)) specifiers.push(m[1]!);
    for (const s of specifiers) {
      if (s.startsWith('.')) {
        const target = relative(root, resolve(root, dirname(file), s));
        if (!existsSync(join(root, target))) throw new Error(`${file} imports ${s}, which does not exist`);
        queue.push(target);
      } else if (!isBuiltin(s)) {
        packages.add(packageOf(s));
      }
    }
  }
  return { files, packages };
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml and .env

export type ComposeService = {
  image?: string;
  build?: { context?: string; dockerfile?: string; target?: string } | string;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number)[];
  expose?: (string | number)[];
  volumes?: string[];
  networks?: Record<string, { ipv4_address?: string } | null> | string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  restart?: string;
  [key: string]: unknown;
};
export type Compose = {
  services: Record<string, ComposeService>;
  networks?: Record<string, { ipam?: { config?: { subnet?: string; ip_range?: string }[] } }>;
  volumes?: Record<string, unknown>;
};

/** KEY=VALUE lines as docker compose reads a .env file. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new Error(`not a KEY=VALUE line: ${raw}`);
    let value = m[2]!;
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, '');
    env[m[1]!] = value;
  }
  return env;
}

/**
 * Compose's variable substitution: $$, $NAME, ${NAME}, ${NAME:-default}, ${NAME-default},
 * ${NAME:?error}, ${NAME?error}, ${NAME:+alt}, ${NAME+alt}. `missing` lists the required ones
 * that are not set.
 */
export function interpolate(
  text: string,
  env: Record<string, string | undefined>,
  missing: string[],
): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (all, braced: string | undefined, colon: string, op: string | undefined, arg: string, bare: string) => {
      if (all === '$$') return '$';
      const name = braced ?? bare;
      const value = env[name];
      const set = colon ? value !== undefined && value !== '' : value !== undefined;
      switch (op) {
        case '-':
          return set ? value! : arg;
        case '?':
          if (!set) missing.push(`${name} (${arg})`);
          return value ?? '';
        case '+':
          return set ? arg : '';
        default:
          return value ?? '';
      }
    },
  );
}

function interpolateDeep<T>(value: T, env: Record<string, string | undefined>, missing: string[]): T {
  if (typeof value === 'string') return interpolate(value, env, missing) as T;
  if (Array.isArray(value)) return value.map((v) => interpolateDeep(v, env, missing)) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolateDeep(v, env, missing)]),
    ) as T;
  return value;
}

/** docker-compose.yml as `docker compose config` would see it with these variables. */
export function loadCompose(env: Record<string, string>): { compose: Compose; missing: string[] } {
  const raw = parse(read('docker-compose.yml'), { merge: true }) as Compose & Record<string, unknown>;
  const missing: string[] = [];
  const compose = interpolateDeep(raw, env, missing);
  for (const key of Object.keys(compose))
    if (key.startsWith('x-')) delete (compose as Record<string, unknown>)[key];
  return { compose, missing };
}

export function environmentOf(service: ComposeService): Record<string, string> {
  const e = service.environment ?? {};
  if (Array.isArray(e))
    return Object.fromEntries(
      e.map((line) => {
        const i = line.indexOf('=');
        return [line.slice(0, i), line.slice(i + 1)];
      }),
    );
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v == null ? '' : String(v)]));
}

export const asList = (v: string[] | string | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : v.split(/\s+/).filter(Boolean);

/** Container ports a service says it listens on (`expose` and the container side of `ports`). */
export function portsOf(service: ComposeService): number[] {
  const out = new Set<number>();
  for (const p of service.expose ?? []) out.add(Number(String(p).split('/')[0]));
  for (const p of service.ports ?? []) out.add(Number(String(p).split('/')[0]!.split(':').at(-1)));
  return [...out];
}

/** "host:container" published ports: host port by container port. */
export function publishedPorts(service: ComposeService): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of service.ports ?? []) {
    const parts = String(p).split('/')[0]!.split(':');
    if (parts.length < 2) continue;
    out.set(Number(parts.at(-1)), Number(parts.at(-2)));
  }
  return out;
}

export type BindMount = { source: string; target: string; readOnly: boolean };

/** Bind mounts (sources starting with . or /), as repository paths. */
export function bindMounts(service: ComposeService): BindMount[] {
  return (service.volumes ?? [])
    .map((v) => v.split(':'))
    .filter(([source]) => source!.startsWith('.') || source!.startsWith('/'))
    .map(([source, target, mode]) => ({
      source: relative(root, resolve(root, source!)) || '.',
      target: target!,
      readOnly: (mode ?? '').split(',').includes('ro'),
    }));
}

/** The repository file a container path comes from, through the service's bind mounts. */
export function hostPathOf(service: ComposeService, containerPath: string): string | undefined {
  const mounts = bindMounts(service).sort((a, b) => b.target.length - a.target.length);
  for (const m of mounts) {
    if (containerPath === m.target) return m.source;
    if (containerPath.startsWith(`${m.target}/`))
      return join(m.source, containerPath.slice(m.target.length + 1));
  }
  return undefined;
}

/** `service:port` references in a text (URLs and nginx/Prometheus host:port), for known services. */
export function serviceReferences(text: string, services: string[]): { service: string; port: number }[] {
  const names = services.map((s) => s.replace(/[-.]/g, '\\$&')).join('|');
  const re = new RegExp(`(?<![\\w.-])(${names}):(\\d{2,5})(?![\\w.-])`, 'g');
  return [...text.matchAll(re)].map((m) => ({ service: m[1]!, port: Number(m[2]) }));
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: manifests are checked field by field in the tests
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  [key: string]: unknown;
};

/** Every document of every deploy/k8s/*.yaml manifest, with the file it came from. */
export function loadManifests(files: string[]): (K8sObject & { file: string })[] {
  const out: (K8sObject & { file: string })[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(read(file))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const value = doc.toJS() as K8sObject | null;
      if (value) out.push({ ...value, file });
    }
  }
  return out;
}

/** A Secret's values (stringData, and data decoded from base64). */
export function secretValues(secret: K8sObject): Record<string, string> {
  const out: Record<string, string> = { ...(secret.stringData ?? {}) };
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out;
}
