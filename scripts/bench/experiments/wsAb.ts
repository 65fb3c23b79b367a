// EXPERIMENT runner, not part of `npm run bench`: the bench's WebSocket echo (16 connections × 8
// messages in flight) direct and through Portico checkouts, alternating, medians of ROUNDS × 3 s.
// Usage: AB_VARIANTS="main=/work/main,new=/work/wt-x" WS_SIZE=128 ROUNDS=5 node scripts/bench/experiments/wsAb.ts
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from '../median.ts';
import { porticoConfig } from '../porticoConfig.ts';
import { processes } from '../processes.ts';
import { wsEcho } from '../wsEcho.ts';

const root = join(import.meta.dirname, '../../..');
const env = process.env;
const ROUNDS = Number(env.ROUNDS ?? 5);
const SIZE = Number(env.WS_SIZE ?? 128);
const variants = (env.AB_VARIANTS ?? `main=${root}`).split(',').map((v) => v.split('=') as [string, string]);
const dir = mkdtempSync(join(tmpdir(), 'portico-wsab-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const { port: upPort } = await processes.startUpstream();
const targets: { name: string; url: string }[] = [{ name: 'direct', url: `ws://127.0.0.1:${upPort}/` }];
for (const [name, checkout] of variants) {
  const port = await processes.freePort();
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    porticoConfig.pureProxy({ port, upstream: `http://127.0.0.1:${upPort}`, logLevel: 'info' }),
  );
  processes.start(process.execPath, [join(checkout, 'scripts/portico.js'), 'serve', '--config', file], {
    stdout: join(dir, `${name}.log`),
  });
  await processes.waitFor(`http://127.0.0.1:${port}/_portico/healthz`);
  targets.push({ name, url: `ws://127.0.0.1:${port}/dce5/` });
}
const runs = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const t of round % 2 ? targets : [...targets].reverse()) {
    const rate = await wsEcho(t.url, SIZE);
    runs.set(t.name, [...(runs.get(t.name) ?? []), rate]);
    process.stderr.write(`round ${round + 1} ${t.name}: ${rate.toFixed(0)} msg/s\n`);
  }
}
const direct = median(runs.get('direct')!);
process.stdout.write(
  `\nWebSocket echo, ${SIZE} B, ${ROUNDS} rounds × 3 s, medians\n\n| target | msg/s | × direct |\n|---|---:|---:|\n`,
);
for (const t of targets) {
  const m = median(runs.get(t.name)!);
  process.stdout.write(`| ${t.name} | ${m.toFixed(0)} | ${(m / direct).toFixed(2)} |\n`);
}
process.exit(0);
