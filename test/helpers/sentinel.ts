import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { freePort } from './sso.ts';
import { eventually } from './eventually.ts';

export type SentinelSet = {
  master: { port: number; kill(): void };
  replica: { port: number };
  sentinel: { port: number };
  name: string;
  /** Resolves when the sentinel reports the replica as the new master. */
  waitForFailover(timeoutMs: number): Promise<void>;
};

/** A Redis master, a replica and a sentinel (Debian's redis-sentinel), all on loopback. */
export async function startSentinelSet(t: Pick<TestContext, 'after'>): Promise<SentinelSet> {
  if (spawnSync('redis-sentinel', ['--version']).error)
    throw new Error('redis-sentinel is not installed: apt-get install redis-sentinel');
  const dir = mkdtempSync(join(tmpdir(), 'portico-sentinel-'));
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const [mPort, rPort, sPort] = [await freePort(), await freePort(), await freePort()];
  const server = (port: number, extra: string[] = []) => {
    const c = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        ...extra,
      ],
      { stdio: 'ignore' },
    );
    children.push(c);
    return c;
  };
  const master = server(mPort);
  server(rPort, ['--replicaof', '127.0.0.1', String(mPort)]);
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    `port ${sPort}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor portico 127.0.0.1 ${mPort} 1\nsentinel down-after-milliseconds portico 1000\nsentinel failover-timeout portico 5000\nsentinel parallel-syncs portico 1\n`,
  );
  const s = spawn('redis-sentinel', [conf], { stdio: 'ignore' });
  children.push(s);
  const sentinel = new Redis({ port: sPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  sentinel.on('error', () => {});
  t.after(() => sentinel.disconnect());
  const masterAddr = async () => {
    try {
      if (sentinel.status !== 'ready') await sentinel.connect().catch(() => {});
      return (await sentinel.call('SENTINEL', 'get-master-addr-by-name', 'portico')) as string[] | null;
    } catch {
      return null;
    }
  };
  /** The master, its replica and the sentinel agree on who is who: a failover can happen. */
  const settled = async (): Promise<boolean> => {
    const addr = await masterAddr();
    const replica = new Redis({ port: rPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
    replica.on('error', () => {});
    const info = await replica
      .connect()
      .then(() => replica.info('replication'))
      .catch(() => '');
    replica.disconnect();
    // The sentinel learns replicas from the master's INFO, every 10 s: until it knows this one,
    // a dead master has nothing to fail over to.
    const known = (await sentinel.call('SENTINEL', 'replicas', 'portico').catch(() => [])) as string[][];
    const replicaKnown = known.some(
      (r) => r[r.indexOf('port') + 1] === String(rPort) && r[r.indexOf('master-link-status') + 1] === 'ok',
    );
    return (
      addr !== null && Number(addr[1]) === mPort && info.includes('master_link_status:up') && replicaKnown
    );
  };
  await eventually(settled, (ok) => ok, { timeoutMs: 25_000, intervalMs: 100 });
  return {
    master: { port: mPort, kill: () => master.kill('SIGKILL') },
    replica: { port: rPort },
    sentinel: { port: sPort },
    name: 'portico',
    async waitForFailover(timeoutMs) {
      const addr = await eventually(masterAddr, (a) => Number(a?.[1]) === rPort, {
        timeoutMs,
        intervalMs: 200,
      });
      if (Number(addr?.[1]) !== rPort) throw new Error('the sentinel did not fail over in time');
    },
  };
}
