// What grew between two heap snapshots (the soak's before and after): self size and count per
// constructor, largest growth first. Self size only (no dominator tree): a first look at what
// holds memory; open both files in Chrome DevTools' Memory tab, "Comparison" view, for retainers.
// Usage: node scripts/bench/heapDiff.ts BEFORE.heapsnapshot AFTER.heapsnapshot [TOP]
import { readFileSync } from 'node:fs';

type Snapshot = {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
};

function byConstructor(file: string): Map<string, { size: number; count: number }> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = s.snapshot.meta.node_types[0];
  const out = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + typeAt]!]!;
    const name = s.strings[s.nodes[i + nameAt]!]!;
    const key =
      type === 'object' || type === 'closure' || type === 'native' ? `${name} (${type})` : `(${type})`;
    const e = out.get(key) ?? { size: 0, count: 0 };
    e.size += s.nodes[i + sizeAt]!;
    e.count++;
    out.set(key, e);
  }
  return out;
}

export function heapDiff(beforeFile: string, afterFile: string, top = 25): string {
  const before = byConstructor(beforeFile);
  const after = byConstructor(afterFile);
  const total = (m: Map<string, { size: number }>) => [...m.values()].reduce((a, b) => a + b.size, 0);
  const rows = [...after.entries()]
    .map(([k, a]) => {
      const b = before.get(k) ?? { size: 0, count: 0 };
      return { k, dSize: a.size - b.size, dCount: a.count - b.count, size: a.size, count: a.count };
    })
    .sort((x, y) => y.dSize - x.dSize)
    .slice(0, top);
  const mb = (n: number) => (n / 1024 / 1024).toFixed(2);
  return [
    `Heap (self sizes): ${mb(total(before))} MB before, ${mb(total(after))} MB after`,
    '',
    '| constructor | Δ self MB | Δ count | after MB | after count |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| \`${r.k}\` | ${mb(r.dSize)} | ${r.dCount} | ${mb(r.size)} | ${r.count} |`),
  ].join('\n');
}

if (import.meta.main) {
  const [a, b, top] = process.argv.slice(2);
  process.stdout.write(`${heapDiff(a!, b!, Number(top ?? 25))}\n`);
}
