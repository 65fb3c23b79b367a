// The shape of the house: one stage table read by HTTP requests and WebSocket upgrades alike, and
// a core that imports no feature.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { REQUEST_STAGES } from '../../gateway/pipeline.ts';

const root = join(import.meta.dirname, '..', '..', 'gateway');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? files(full) : name.endsWith('.ts') ? [full] : [];
  });
}

describe('the stage table', () => {
  it('gives upgrades every stage a request gets, except the ones that only make sense for HTTP', () => {
    // The forward-auth check answers a proxy's subrequest; an upgrade to its path is an own endpoint (404).
    // An upgrade carries no body and is no CORS preflight. An upgrade is HTTP/1.1 (Portico offers no
    // WebSockets over HTTP/2): it has a Host, never an :authority.
    const httpOnly = new Set([
      'addKeycloakIdpHint',
      'forwardAuth',
      'fromHttp2',
      'limitRequestBody',
      'passCorsPreflight',
    ]);
    for (const row of REQUEST_STAGES) {
      if ('slot' in row) continue;
      const ws = 'both' in row || row.ws !== undefined;
      const http = 'both' in row || row.http !== undefined;
      if (http && !httpOnly.has(row.name)) assert.ok(ws, `${row.name} has no WebSocket stage`);
    }
    const names = REQUEST_STAGES.flatMap((r) => ('slot' in r ? [] : [r.name]));
    for (const name of [
      'logWhenDone',
      'parseTarget',
      'ownEndpoints',
      'routeRequest',
      'authenticate',
      'authorize',
    ])
      assert.ok(names.includes(name), name);
  });
});

describe('the core', () => {
  it('imports no feature: features plug into its slots, events and services', () => {
    const features = ['admin', 'branding', 'notify', 'ops', 'storage', 'oidcProvider'];
    const composition = new Set(['features.ts', 'cli.ts']);
    const offending: string[] = [];
    for (const file of files(root)) {
      const rel = relative(root, file);
      const top = rel.split('/')[0]!;
      if (features.includes(top) || composition.has(rel)) continue;
      for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const target = relative(root, join(file, '..', m[1]!));
        if (features.includes(target.split('/')[0]!)) offending.push(`${rel} → ${target}`);
      }
    }
    assert.deepEqual(offending, []);
  });

  it('keeps no mutable state at module level (no module-scoped let, Map or Set the gateway would share)', () => {
    const offending: string[] = [];
    for (const file of files(root)) {
      const text = readFileSync(file, 'utf8');
      // A `new Set([...])` of constants is a lookup table; an empty collection or a cache is state.
      for (const [i, line] of text.split('\n').entries())
        if (/^(let |const \w+ = new (Map|Set|WeakMap|LRUCache)\b(<[^>]*>)?\((\)|\{))/.test(line))
          offending.push(`${relative(root, file)}:${i + 1}: ${line.trim()}`);
    }
    // A memo of a pure computation (a loaded library, a compiled template) is not shared state.
    const allowed = [/^storage\/objectStore\.ts:\d+: let sdk:/];
    assert.deepEqual(
      offending.filter((o) => !allowed.some((a) => a.test(o))),
      [],
    );
  });
});
