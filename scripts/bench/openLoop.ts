// An open-loop load generator (wrk2's model), run as its own process: request i is due at
// start + i/rate whatever happened to earlier ones, and its latency counts from that moment, so a
// target that falls behind shows the queueing in its percentiles instead of being sent less.
// Bounded: rate × seconds requests at most, never more than 32 per connection waiting (a request
// due beyond that is dropped and counted: the target has fallen behind), and it gives up 10 s after
// the last one was due (what is still out then is counted as unfinished).
// Usage: node openLoop.ts URL RATE SECONDS CONNECTIONS ["Name: value"...]   → one JSON line
import { Pool } from 'undici';

const [url, rateArg, secondsArg, connectionsArg, ...headerArgs] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const target = new URL(url!);
const headers = Object.fromEntries(
  headerArgs.map((h) => [h.slice(0, h.indexOf(':')).trim(), h.slice(h.indexOf(':') + 1).trim()]),
);
const pool = new Pool(target.origin, {
  connections: Number(connectionsArg),
  pipelining: 1,
  keepAliveTimeout: 60_000,
  headersTimeout: 10_000,
  bodyTimeout: 10_000,
});
const total = Math.max(1, Math.round(rate * seconds));
const latencies = new Float64Array(total);
let ok = 0;
let failed = 0;
let sent = 0; // schedule slots passed, sent or dropped
let issued = 0;
let dropped = 0;
let lastDone = 0;

// Warm-up, not measured: open every connection and let the JIT settle, 32 at a time for ~1 s.
const warmUntil = performance.now() + 1000;
while (performance.now() < warmUntil) {
  await Promise.all(
    Array.from({ length: Number(connectionsArg) }, () =>
      pool
        .request({ method: 'GET', path: target.pathname + target.search, headers })
        .then((res) => res.body.dump({ limit: 1 << 20 }))
        .catch(() => {}),
    ),
  );
}
const t0 = performance.now();

function send(i: number) {
  const due = t0 + (i * 1000) / rate;
  pool
    .request({ method: 'GET', path: target.pathname + target.search, headers })
    .then(async (res) => {
      await res.body.dump({ limit: 1 << 20 });
      lastDone = performance.now();
      if (res.statusCode >= 200 && res.statusCode < 400) latencies[ok++] = lastDone - due;
      else failed++;
    })
    .catch(() => {
      failed++;
    })
    .finally(() => {
      if (sent === total && ok + failed === issued) finish();
    });
}

function tick() {
  const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
  const maxWaiting = Number(connectionsArg) * 32;
  while (sent < due) {
    if (issued - ok - failed >= maxWaiting) {
      dropped += due - sent;
      sent = due;
      break;
    }
    issued++;
    send(sent++);
  }
  if (sent === total && ok + failed === issued) finish();
  if (sent < total) setTimeout(tick, 1);
}

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  const done = latencies.subarray(0, ok).sort();
  const at = (q: number) => (ok ? done[Math.min(ok - 1, Math.floor(q * ok))]! : Number.NaN);
  const result = {
    rate,
    achieved: ok / ((lastDone - t0) / 1000),
    p50: at(0.5),
    p99: at(0.99),
    max: ok ? done[ok - 1]! : Number.NaN,
    requests: ok,
    errors: failed,
    dropped,
    unfinished: issued - ok - failed,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

setTimeout(finish, (seconds + 10) * 1000).unref();
tick();
