// EXPERIMENT: what nginx + forward-auth reaches on this machine when the check costs nothing — nginx
// (access log on, upstream keep-alive) asking a Node server that answers 200 at once
// (peers/noopAuthCheck.ts), over TCP on loopback and over a Unix socket, beside plain nginx;
// alternating, medians. The figure bounds issue 15's uncached target for any Node check server.
// Usage: node scripts/bench/experiments/forwardAuthCeiling.ts   (BENCH_ROUNDS, default 3; BENCH_SECONDS, 5)
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from '../median.ts';
import { processes } from '../processes.ts';
import { wrk } from '../wrk.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'portico-fa-ceiling-'));
chmodSync(dir, 0o777);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// The headers a check answers for a signed-in user: identity, an assertion-sized JWT, the request id.
const HEADERS = JSON.stringify({
  'content-length': '0',
  'cache-control': 'no-store',
  'x-request-id': '0123456789abcdef',
  'x-forwarded-user': 'alice',
  'x-forwarded-email': 'alice@example.com',
  'x-forwarded-groups': 'ai-users,staff',
  'x-forwarded-preferred-username': 'Alice',
  'x-portico-assertion': `eyJ${'a'.repeat(600)}`,
  'x-portico-user': 'alice',
});
const up = await processes.startUpstream();
const checkPort = await processes.freePort();
const socket = join(dir, 'check.sock');
const peer = join(import.meta.dirname, '..', 'peers', 'noopAuthCheck.ts');
processes.start(process.execPath, [peer, String(checkPort), HEADERS]);
const unix = processes.start(process.execPath, [peer, socket, HEADERS], { stdout: 'pipe' });
await once(unix.stdout!, 'data');
chmodSync(socket, 0o777); // nginx's workers run as another user
const ports = {
  plain: await processes.freePort(),
  tcp: await processes.freePort(),
  unix: await processes.freePort(),
};
const location = (check: string | undefined) => `
    location /dce5/ {
      ${check ? 'auth_request /_check;' : ''}
      proxy_pass http://backend/; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
    ${
      check
        ? `location = /_check { internal; proxy_pass http://${check}/_portico/auth; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_pass_request_body off; proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri; proxy_buffer_size 16k; proxy_buffers 4 16k; }`
        : ''
    }`;
writeFileSync(
  join(dir, 'nginx.conf'),
  `worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log; events { worker_connections 4096; }
http {
  access_log ${dir}/access.log;
${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((n) => `  ${n}_temp_path ${join(dir, n)};`).join('\n')}
  upstream backend { server 127.0.0.1:${up.port}; keepalive 64; }
  upstream check_tcp { server 127.0.0.1:${checkPort}; keepalive 32; }
  upstream check_unix { server unix:${socket}; keepalive 32; }
  server { listen 127.0.0.1:${ports.plain}; ${location(undefined)} }
  server { listen 127.0.0.1:${ports.tcp}; ${location('check_tcp')} }
  server { listen 127.0.0.1:${ports.unix}; ${location('check_unix')} }
}
`,
);
processes.start('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;']);
for (const port of Object.values(ports)) await processes.waitFor(`http://127.0.0.1:${port}/dce5/small`);
const results: Record<string, number[]> = { plain: [], tcp: [], unix: [] };
for (let round = 1; round <= ROUNDS; round++)
  for (const [name, port] of Object.entries(ports)) {
    const r = wrk(`http://127.0.0.1:${port}/dce5/small`, { connections: 32, seconds: SECONDS });
    results[name]!.push(r.rps);
    process.stderr.write(`round ${round}/${ROUNDS} ${name}: ${Math.round(r.rps)} req/s\n`);
  }
const plain = median(results.plain!);
process.stdout.write(
  `nginx ${Math.round(plain)} req/s; + no-op Node check over TCP ${Math.round(median(results.tcp!))} (${(median(results.tcp!) / plain).toFixed(2)}×), over a Unix socket ${Math.round(median(results.unix!))} (${(median(results.unix!) / plain).toFixed(2)}×) — medians of ${ROUNDS}\n`,
);
process.exit(0);
