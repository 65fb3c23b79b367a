// Updates made before prom-client is loaded are applied, in order, when it is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type DeferredMetrics,
  deferredMetrics,
  type MetricUpdates,
} from '../../gateway/ops/metrics/deferredMetrics.ts';
import { createMetrics, type Metrics } from '../../gateway/ops/metrics/metrics.ts';

const PORTICO = /^portico_(requests|request_duration|upstream|websocket|logins|config_reloads|notifications)/;

/** Portico's own series (the process's default metrics differ from one registry to the next). */
async function ownSeries(m: Metrics): Promise<string[]> {
  return (await m.registry.metrics()).split('\n').filter((l) => PORTICO.test(l));
}

function traffic(m: MetricUpdates): void {
  m.requests.inc({ route: 'app', method: 'GET', status_class: '2xx' });
  m.requestDuration.observe({ route: 'app' }, 0.02);
  m.requests.inc({ route: 'app', method: 'GET', status_class: '2xx' });
  m.requestDuration.observe({ route: 'app' }, 3);
  m.websocketsOpen.inc({ route: 'app' });
  m.websocketsOpen.dec({ route: 'app' });
  m.websocketBytes.inc({ route: 'app', direction: 'in' }, 512);
  m.upstreamUp.set({ route: 'app' }, 1);
  m.upstreamUp.set({ route: 'gone' }, 0);
  m.upstreamUp.remove({ route: 'gone' });
  m.configReloads.inc({ result: 'ok' });
}

describe('deferred metrics', () => {
  it('apply what was recorded before prom-client was loaded, as if it had been there from the start', async () => {
    const direct = createMetrics();
    traffic(direct);
    let onLoad = 0;
    const deferred: DeferredMetrics = deferredMetrics(() => onLoad++);
    traffic(deferred);
    assert.equal(onLoad, 0, 'nothing loaded by recording');
    const loaded = deferred.loaded();
    assert.equal(deferred.loaded(), loaded, 'loaded once');
    assert.equal(onLoad, 1);
    assert.deepEqual(await ownSeries(loaded), await ownSeries(direct));
    // After the load, updates go straight through.
    traffic(direct);
    traffic(deferred);
    assert.deepEqual(await ownSeries(loaded), await ownSeries(direct));
  });

  it('asks for a quiet moment once 1,000 updates wait, and loads by itself at 10,000', () => {
    let loads = 0;
    let backlogs = 0;
    const deferred = deferredMetrics(
      () => loads++,
      () => backlogs++,
    );
    for (let i = 0; i < 999; i++) deferred.configReloads.inc({ result: 'ok' });
    assert.equal(backlogs, 0);
    for (let i = 999; i < 9_999; i++) deferred.configReloads.inc({ result: 'ok' });
    assert.equal(backlogs, 1);
    assert.equal(loads, 0);
    deferred.configReloads.inc({ result: 'ok' });
    assert.equal(loads, 1);
  });
});
