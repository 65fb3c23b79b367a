// The memory of idle WebSockets: N tunnels opened through a fresh pure-proxy Portico, RSS before
// and after. Portico holds two descriptors per tunnel (client and upstream), so its open-file limit
// is raised above the shell's when needed; without the right to, the count is lowered to fit.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { porticoConfig } from './porticoConfig.ts';
import { processes } from './processes.ts';
import { procStats } from './procStats.ts';

export async function idleWebSockets(opts: {
  root: string;
  dir: string;
  upstream: string;
  count: number;
}): Promise<{ asked: number; open: number; failed: number; perWsKb: number; nofile: number; note: string }> {
  const hard = procStats.nofileHardLimit();
  const slack = 512;
  const need = opts.count * 2 + slack;
  // Root may still lack the right to raise a hard limit (a sandbox without CAP_SYS_RESOURCE): try.
  const canRaise = need > hard && spawnSync('prlimit', [`--nofile=${need}:${need}`, 'true']).status === 0;
  const nofile = canRaise ? need : 0;
  const count = need <= hard || canRaise ? opts.count : Math.max(0, Math.floor((hard - slack) / 2));
  const note =
    need <= hard
      ? `file limit ${hard} is enough`
      : canRaise
        ? `file limit raised from ${hard} to ${need} for Portico and the clients`
        : `the file limit is ${hard} and may not be raised here, so ${count} of ${opts.count}`;
  const port = await processes.freePort();
  const file = join(opts.dir, 'idle-ws.yaml');
  writeFileSync(file, porticoConfig.pureProxy({ port, upstream: opts.upstream, logLevel: 'warn' }));
  const portico = processes.start(
    process.execPath,
    [join(opts.root, 'scripts/portico.js'), 'serve', '--config', file],
    { nofile: nofile || undefined },
  );
  await processes.waitFor(`http://127.0.0.1:${port}/_portico/healthz`);
  await processes.waitFor(`http://127.0.0.1:${port}/dce5/small`);
  await sleep(2000);
  const before = procStats.rssKb([portico.pid!]);
  const clients = processes.start(
    process.execPath,
    [join(opts.root, 'scripts/bench/wsClients.ts'), `ws://127.0.0.1:${port}/dce5/`, String(count)],
    { stdout: 'pipe', nofile: nofile || undefined },
  );
  const [line] = (await once(clients.stdout!, 'data')) as [Buffer];
  const open = Number(/open (\d+)/.exec(String(line))?.[1] ?? 0);
  const failed = Number(/failed (\d+)/.exec(String(line))?.[1] ?? 0);
  await sleep(3000);
  const after = procStats.rssKb([portico.pid!]);
  clients.stdin!.end();
  await once(clients, 'exit');
  await processes.stop(portico);
  return { asked: opts.count, open, failed, perWsKb: (after - before) / Math.max(1, open), nofile, note };
}
