// nginx as deploy/nginx/ ships it for forward-auth (auth_request to Portico's /_portico/auth), with
// only what the bench must change: addresses, the log and cache folders, and the same upstream
// keep-alive the plain nginx target gets (an `upstream` block with `keepalive 64` and no
// `Connection: close` to it), so the two differ only by the check. `cache: true` uncomments the
// optional 5 s authorization cache, as an operator would.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const shipped = (file: string) => readFileSync(join(root, 'deploy', 'nginx', file), 'utf8');
const SNIPPETS = ['portico-auth.conf', 'portico-server.conf', 'portico-auth-cache.conf'];

/**
 * deploy/nginx/'s files by name, and `replace`, which changes one and fails when the text to change
 * is no longer there: a change to the shipped files that a user of this copy does not follow
 * fails at once. Shared by the bench and test/helpers/forwardAuth.ts.
 */
export function shippedNginx() {
  const files = new Map(
    ['portico.conf', ...SNIPPETS.map((f) => `snippets/${f}`)].map((f) => [f, shipped(f)]),
  );
  const replace = (file: string, from: string | RegExp, to: string) => {
    const text = files.get(file)!;
    const next = typeof from === 'string' ? text.replaceAll(from, to) : text.replace(from, to);
    if (next === text) throw new Error(`deploy/nginx/${file} no longer has ${String(from)}`);
    files.set(file, next);
  };
  return { files, replace };
}

/** Writes the snippets into `dir` and returns the nginx.conf that includes them. */
export function forwardAuthNginxConfig(opts: {
  dir: string;
  port: number;
  upstreamPort: number;
  porticoPort: number;
  workers: number | 'auto';
  cache: boolean;
}): string {
  const { dir } = opts;
  mkdirSync(join(dir, 'snippets'), { recursive: true });
  mkdirSync(join(dir, 'cache'), { recursive: true });
  // nginx started as root writes its cache as the unprivileged worker user.
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'cache'), 0o777);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const { files, replace } = shippedNginx();
  replace('portico.conf', /^(\s*)listen\s+80;/m, `$1listen 127.0.0.1:${opts.port};`);
  replace('portico.conf', 'server 127.0.0.1:8080;', `server 127.0.0.1:${opts.porticoPort};`);
  replace(
    'portico.conf',
    'upstream portico {',
    `upstream backend { server 127.0.0.1:${opts.upstreamPort}; keepalive 64; }\nupstream portico {`,
  );
  replace('portico.conf', 'proxy_pass https://10.6.8.2:30343/;', 'proxy_pass http://backend/;');
  replace('portico.conf', /^(\s*'')\s+close;/m, "$1 '';");
  replace('portico.conf', '/var/log/nginx/', `${dir}/logs/`);
  replace('portico.conf', '/var/cache/nginx/', `${dir}/cache/`);
  if (opts.cache) {
    replace('portico.conf', /^# (proxy_cache_path .*)$/m, '$1');
    replace('snippets/portico-server.conf', /^(\s*)# (include snippets\/portico-auth-cache\.conf;)/m, '$1$2');
  }
  for (const [file, text] of files) if (file !== 'portico.conf') writeFileSync(join(dir, file), text);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
    (name) => `  ${name}_temp_path ${join(dir, name)};`,
  );
  return `worker_processes ${opts.workers};
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log;
events { worker_connections 4096; }
http {
${temp.join('\n')}
${files.get('portico.conf')}
}
`;
}
