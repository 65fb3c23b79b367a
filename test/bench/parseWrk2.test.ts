import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseWrk2 } from '../../scripts/bench/fixedRate.ts';

// A report of wrk2 (github.com/giltene/wrk2, 44a94c1) run as the bench runs it, trimmed.
const REPORT = `Running 5s test @ http://127.0.0.1:18999/dce5/small
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.15ms  645.95us   1.20s    91.00%
  Latency Distribution (HdrHistogram - Recorded Latency)
 50.000%  850.00us
 75.000%    1.38ms
 90.000%    1.59ms
 99.000%    2.19ms
 99.900%    9.69ms
 99.990%    9.69ms
 99.999%    9.69ms
100.000%    1.20s
----------------------------------------------------------
  14991 requests in 5.00s, 4.56MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   2998.13
`;

describe("the bench's reading of a wrk2 report", () => {
  it('takes the recorded percentiles in milliseconds whatever unit wrk2 printed, and counts every failure', () => {
    assert.deepEqual(parseWrk2(REPORT, 3000), {
      rate: 3000,
      achieved: 2998.13,
      p50: 0.85,
      p99: 2.19,
      max: 1200,
      requests: 14991,
      errors: 7,
      dropped: 0,
      unfinished: 0,
    });
  });

  it('refuses a report without the percentiles rather than reading zeros', () => {
    assert.throws(() => parseWrk2('Running 5s test @ http://x/\nunable to connect\n', 3000), /no 50\.000%/);
  });
});
