import type { Logger } from 'pino';
import type { LocalText, Maintenance } from '../config/types.ts';
import type { KeyValueStore } from '../store/keyValueStore.ts';

/** One route's maintenance as the admin API switched it on. */
export type MaintenanceNotice = {
  retryAfterSeconds?: number;
  message?: LocalText;
  /** ISO time and the admin key that switched it on. */
  since: string;
  by: string;
};

export type MaintenanceSwitch = {
  /** The admin's maintenance of a route, when switched on (an empty map costs the hot path nothing). */
  get(routeId: string): Maintenance | undefined;
  /** Every switched-on route, as the store holds them. */
  list(): Record<string, MaintenanceNotice>;
  switchOn(routeId: string, notice: MaintenanceNotice): Promise<void>;
  /** False when the route was not switched on. */
  switchOff(routeId: string): Promise<boolean>;
  /** Loads the switches and follows changes from other replicas. */
  start(): Promise<void>;
  stop(): void;
};

const KEY = 'route-maintenance';
const CHANNEL = 'route-maintenance';
/** Replicas reread the switches this often too, in case a change was published while one was cut off. */
const RESYNC_MS = 10_000;

/**
 * Maintenance switched on and off through the admin API, beside routes.yaml: one JSON value in the
 * store (Redis: shared by every replica and kept across restarts; memory: this instance), updated
 * with compare-and-set so two admins cannot lose each other's change, and announced on a channel so
 * every replica rereads it at once. Requests read only this replica's copy.
 */
export function createMaintenanceSwitch(
  store: KeyValueStore,
  log: Logger,
  /** Told the switched-on routes after every change this replica applies (its terminals end). */
  onApplied: (active: ReadonlyMap<string, Maintenance>) => void = () => {},
): MaintenanceSwitch {
  let notices: Record<string, MaintenanceNotice> = {};
  let active = new Map<string, Maintenance>();
  let unsubscribe: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  /**
   * Bumped by every read that starts and every update this replica makes: a read whose answer
   * arrives after a newer read or update started is stale and must not overwrite what they saw
   * (a switch-off here would otherwise come back on from a read that began before it).
   */
  let generation = 0;

  const apply = (text: string | undefined) => {
    const next = parse(text);
    notices = next;
    active = new Map(
      Object.entries(next).map(([id, n]) => [
        id,
        Object.freeze({ retryAfterSeconds: n.retryAfterSeconds, message: n.message }),
      ]),
    );
    if (active.size > 0) onApplied(active);
  };
  const reread = async () => {
    const mine = ++generation;
    try {
      const text = await store.get(KEY);
      if (mine === generation) apply(text);
    } catch (err) {
      log.warn({ err }, 'could not read the maintenance switches; keeping the last known ones');
    }
  };
  const update = async (change: (all: Record<string, MaintenanceNotice>) => boolean): Promise<boolean> => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const text = await store.get(KEY);
      const all = parse(text);
      if (!change(all)) {
        generation++;
        apply(text);
        return false;
      }
      const next = JSON.stringify(all);
      if (await store.compareAndSet(KEY, text, next)) {
        generation++;
        apply(next);
        await store.publish(CHANNEL, '');
        return true;
      }
    }
    throw new Error('the maintenance switches kept changing under this update');
  };

  return {
    get: (routeId) => (active.size === 0 ? undefined : active.get(routeId)),
    list: () => structuredClone(notices),
    switchOn: (routeId, notice) =>
      update((all) => {
        all[routeId] = notice;
        return true;
      }).then(() => undefined),
    switchOff: (routeId) =>
      update((all) => {
        if (!(routeId in all)) return false;
        delete all[routeId];
        return true;
      }),
    async start() {
      unsubscribe = store.subscribe(CHANNEL, () => void reread());
      if (store.kind === 'redis') {
        timer = setInterval(() => void reread(), RESYNC_MS);
        timer.unref();
      }
      await reread();
    },
    stop() {
      unsubscribe?.();
      clearInterval(timer);
    },
  };
}

function parse(text: string | undefined): Record<string, MaintenanceNotice> {
  if (!text) return {};
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, MaintenanceNotice>)
      : {};
  } catch {
    return {};
  }
}
