import type { ServerGroup } from '../config/types.ts';
import type { UpstreamEndpoint } from './upstreamPool.ts';

/**
 * What the gateway knows of one server, kept on its endpoint so that it outlives a reload (the
 * endpoint does, while the server's URL, TLS settings and connect timeout are unchanged).
 */
export type ServerState = {
  /** Requests (and WebSocket handshakes and tunnels) open to it now: least-conn reads it. */
  inFlight: number;
  /** Failed connections counted towards `maxFails`. */
  fails: number;
  lastFailAt: number;
  /** Epoch ms until which it is left out; 0: never left out since it last answered. */
  downUntil: number;
  /** The active health check found it down. */
  checkedDown: boolean;
  /** When a request last found every connection to it busy and that was logged (performance.now()). */
  busyWarnedAt: number;
};

export type Balancer = {
  readonly group: ServerGroup;
  /** One per server of the group, in the same order. */
  readonly endpoints: readonly UpstreamEndpoint[];
  /**
   * The index of the server for a request: `session` sticks a signed-in user to one server, and
   * `exclude` (the server that just failed; -1: none) is avoided when any other can take it.
   */
  pick(session: string | undefined, exclude: number): number;
  /** A connection to the server failed before its answer (refused, reset, timeout, TLS, DNS). */
  failed(i: number): void;
  /** The server answered: its failures are forgiven. */
  answered(i: number): void;
};

/**
 * Picks a server among a route's `upstreams` as nginx's `upstream` block does: smooth weighted
 * round robin (ngx_http_upstream_round_robin.c) or least connections per weight, leaving out a
 * server with `maxFails` failures within `failTimeout` for `failTimeout`, and one the health
 * check found down; backups only when no other server is in; every server again when all are out
 * (a chance is better than a certain 502). A pick allocates nothing: the counters are arrays made
 * once per route group.
 */
export function createBalancer(group: ServerGroup, endpoints: readonly UpstreamEndpoint[]): Balancer {
  const servers = group.list;
  const n = servers.length;
  const weights = Int32Array.from(servers, (s) => s.weight);
  const current = new Int32Array(n);
  const primaries = Int32Array.from(
    servers.flatMap((s, i) => (s.backup ? [] : [i])),
    (i) => i,
  );
  const leastConn = group.balance === 'least-conn';
  let turn = 0;

  const usable = (i: number, now: number) => {
    const st = endpoints[i]!.state;
    return !st.checkedDown && st.downUntil <= now;
  };

  // Among the servers (backups or not) that are in: the next by weight, or the least busy.
  const choose = (backup: boolean, exclude: number, now: number): number => {
    let best = -1;
    if (leastConn) {
      let bestLoad = 0;
      for (let k = 0; k < n; k++) {
        // Ties go round: the scan starts one further each time.
        const i = (turn + k) % n;
        if (i === exclude || servers[i]!.backup !== backup || !usable(i, now)) continue;
        const load = endpoints[i]!.state.inFlight / weights[i]!;
        if (best < 0 || load < bestLoad) {
          best = i;
          bestLoad = load;
        }
      }
      if (best >= 0) turn = (turn + 1) % n;
      return best;
    }
    let total = 0;
    for (let i = 0; i < n; i++) {
      if (i === exclude || servers[i]!.backup !== backup || !usable(i, now)) continue;
      current[i]! += weights[i]!;
      total += weights[i]!;
      if (best < 0 || current[i]! > current[best]!) best = i;
    }
    if (best >= 0) current[best]! -= total;
    return best;
  };

  return {
    group,
    endpoints,
    pick(session, exclude) {
      const now = Date.now();
      if (group.sticky && session !== undefined) {
        // The user's server, else the next one in that is in: the same for every request of theirs.
        const h = hash(session);
        for (let k = 0; k < primaries.length; k++) {
          const i = primaries[(h + k) % primaries.length]!;
          if (i !== exclude && usable(i, now)) return i;
        }
      }
      let i = choose(false, exclude, now);
      if (i < 0) i = choose(true, exclude, now);
      if (i >= 0) return i;
      // Every server is out: take the primaries in turn regardless, another than the one that failed.
      turn = (turn + 1) % primaries.length;
      i = primaries[turn]!;
      return i === exclude && primaries.length > 1 ? primaries[(turn + 1) % primaries.length]! : i;
    },
    failed(i) {
      if (group.maxFails === 0) return;
      const st = endpoints[i]!.state;
      const now = Date.now();
      // Failures older than the window are forgotten, unless the server was left out since: then
      // one more failure leaves it out again at once (nginx tries a returning server once).
      if (st.downUntil === 0 && now - st.lastFailAt > group.failTimeoutMs) st.fails = 0;
      st.fails++;
      st.lastFailAt = now;
      if (st.fails >= group.maxFails) st.downUntil = now + group.failTimeoutMs;
    },
    answered(i) {
      const st = endpoints[i]!.state;
      if (st.fails !== 0) {
        st.fails = 0;
        st.downUntil = 0;
      }
    },
  };
}

/** FNV-1a of a session id: spreads users over servers without allocating. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
