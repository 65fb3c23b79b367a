import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { freePort } from './ports.ts';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';
import { accepts, stopChild } from './processes.ts';
import { eventually } from './eventually.ts';

export type NginxRoute = {
  /** The `location` prefix, e.g. `/dce5/` or `/`. */
  path: string;
  /** The `proxy_pass` URL, e.g. `http://127.0.0.1:PORT/`; none for a location that only `return`s. */
  upstream?: string;
  /** Adds the seed's cloudtty lines: 300 s read/send timeouts and the Upgrade/Connection headers. */
  websocket?: boolean;
  /** Not in the seed: directives a parity case compares with a Portico key (`client_max_body_size 1k;`). */
  directives?: string[];
};

export type NginxOptions = {
  routes: NginxRoute[];
  /**
   * Not in the seed (which leaves nginx's default of 1m): set only where a test needs bigger
   * request bodies through nginx, and say so.
   */
  clientMaxBodySize?: string;
  /** Not in the seed: `http`-level directives a parity case needs (`limit_req_zone …;`). */
  httpDirectives?: string[];
};

export type StartedNginx = {
  url: string;
  port: number;
  dir: string;
  /** The nginx.conf that was written. */
  config: string;
  /** The error log so far (for assertion messages). */
  errorLog(): string;
};

const INSTALL_HINT =
  'nginx is not installed, and the nginx parity suite needs a real nginx to compare Portico with. ' +
  'Install it with `apt-get install nginx-light` (Debian/Ubuntu), or point NGINX_BIN at an nginx binary.';

/** The nginx binary: $NGINX_BIN, else `nginx` on PATH or in the sbin folders PATH often lacks. */
export function findNginx(): string {
  const fromEnv = process.env.NGINX_BIN;
  if (fromEnv) {
    if (!isExecutable(fromEnv))
      throw new Error(`NGINX_BIN=${fromEnv} is not an executable file. ${INSTALL_HINT}`);
    return fromEnv;
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'nginx');
    if (isExecutable(candidate)) return candidate;
  }
  throw new Error(INSTALL_HINT);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The seed's `server` block (oem-out.en.md, "Unify Domain Name") for the given routes, in an
 * http block whose every file lives in `dir`, so nginx runs as root or not without touching /var.
 */
export function nginxConfig(dir: string, port: number, options: NginxOptions): string {
  const locations = options.routes.map((route) => {
    const lines = [`    location ${route.path} {`, ...(route.directives ?? []).map((d) => `      ${d}`)];
    if (route.upstream === undefined) return [...lines, '    }'].join('\n');
    lines.push(`      proxy_pass ${route.upstream};`, '      proxy_http_version 1.1;');
    if (route.websocket) lines.push('      proxy_read_timeout 300s;', '      proxy_send_timeout 300s;');
    lines.push(
      '      proxy_set_header Host $host;',
      '      proxy_set_header X-Real-IP $remote_addr;',
      '      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    );
    if (route.websocket) {
      lines.push(
        '      proxy_set_header Upgrade $http_upgrade;',
        '      proxy_set_header Connection $connection_upgrade;',
      );
    }
    lines.push('    }');
    return lines.join('\n');
  });
  return `events {
  worker_connections 256;
}

http {
  access_log off;
  client_body_temp_path ${join(dir, 'client_body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
${options.clientMaxBodySize ? `  client_max_body_size ${options.clientMaxBodySize}; # not in the seed\n` : ''}${(options.httpDirectives ?? []).map((d) => `  ${d} # not in the seed\n`).join('')}
  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }

  server {
    listen 127.0.0.1:${port};
    server_name localhost;

${locations.join('\n\n')}
  }
}
`;
}

/**
 * Starts a real nginx in front of the given upstreams with the seed's config, on a free port of
 * 127.0.0.1, and stops it after the test. Fails (never skips) when nginx is not installed.
 */
export function startNginx(t: TestContext, options: NginxOptions): Promise<StartedNginx> {
  return startNginxWith(t, (dir, port) => nginxConfig(dir, port, options));
}

/**
 * Starts a real nginx with the nginx.conf `build` writes for a folder of its own (temp files, logs,
 * any included file) and a port of 127.0.0.1: a free one, or `port` when the caller had to know it
 * first (a publicUrl). Stopped after the test.
 */
export async function startNginxWith(
  t: TestContext,
  build: (dir: string, port: number) => string,
  options: { port?: number } = {},
): Promise<StartedNginx> {
  const bin = findNginx();
  const dir = mkdtempSync(join(tmpdir(), 'portico-nginx-'));
  // Run as root, the workers switch to an unprivileged user that must reach the temp folders.
  chmodSync(dir, 0o755);
  const errorLogFile = join(dir, 'error.log');
  const errorLog = () => (existsSync(errorLogFile) ? readFileSync(errorLogFile, 'utf8') : '');

  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = options.port ?? (await freePort());
    const config = build(dir, port);
    const configFile = join(dir, 'nginx.conf');
    writeFileSync(configFile, config);
    const child = spawn(
      bin,
      [
        '-p',
        dir,
        '-e',
        errorLogFile,
        '-c',
        configFile,
        '-g',
        `daemon off; master_process on; worker_processes 1; pid ${join(dir, 'nginx.pid')}; error_log ${errorLogFile};`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c));
    child.stderr!.on('data', (c: Buffer) => (output += c));
    try {
      await waitForPort(child, port, 5000);
    } catch (err) {
      await stop(child);
      lastError = new Error(
        `nginx did not start on 127.0.0.1:${port}: ${(err as Error).message}\n${output}${errorLog()}\n--- nginx.conf ---\n${config}`,
      );
      // Another process may have taken the port between freePort() and nginx's bind: try again.
      if (options.port === undefined && /Address already in use/.test(output + errorLog())) continue;
      rmSync(dir, { recursive: true, force: true });
      throw lastError;
    }
    t.after(async () => {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    });
    return { url: `http://127.0.0.1:${port}`, port, dir, config, errorLog };
  }
  throw lastError!;
}

async function waitForPort(child: ChildProcess, port: number, timeoutMs: number): Promise<void> {
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `nginx exited (code ${code}, signal ${signal})`));
  child.once('error', (err) => (exited = `nginx could not be run: ${err.message}`));
  // nginx says nothing when it is ready: ask until it accepts, it exits, or time runs out.
  const up = await eventually(
    () => accepts(port),
    (open) => open || exited !== undefined,
    { timeoutMs, intervalMs: 25 },
  );
  if (exited) throw new Error(exited);
  if (!up) throw new Error(`no connection accepted within ${timeoutMs} ms`);
}

/** SIGTERM is nginx's fast shutdown: the master closes its workers and their connections, then exits. */
const stop = (child: ChildProcess) => stopChild(child);

export { freePort };
