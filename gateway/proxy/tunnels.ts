import type { Duplex } from 'node:stream';
import type { Identity } from '../context.ts';

/** WebSocket close codes Portico sends when it ends a tunnel itself. */
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_POLICY = 1008;

/** What a tunnel was let in as: judged again when the config changes (tunnelStillAllowed.ts). */
export type TunnelGrant = {
  routeId: string;
  identity: Identity | undefined;
  /** The hash of the Portico API key it was opened with, if any: removed or rotated ends it. */
  apiKeyHash: string | undefined;
  /** Opened without a login on a `public:` path of a login route: this path, to ask again. */
  publicPath: string | undefined;
  /** Opened with a bearer token (`bearer: verify`): its provider must still be one the route asks. */
  bearer: boolean;
  /** The client's address as the pipeline resolved it: a new `ipDeny` / `ipAllow` applies to it. */
  clientIp: string;
};

type Tunnel = {
  client: Duplex;
  upstream: Duplex;
  sessionId: string | undefined;
  expiresAt: number;
  grant: TunnelGrant | undefined;
  /** Set when it expires before the next sweep (a short-lived bearer token). */
  timer: NodeJS.Timeout | undefined;
};

export type Tunnels = {
  readonly size: number;
  /** `expiresAt`: when the session it was opened with reaches its maximum age (Infinity: none). */
  add(
    client: Duplex,
    upstream: Duplex,
    sessionId: string | undefined,
    expiresAt: number,
    grant?: TunnelGrant,
  ): void;
  remove(client: Duplex): void;
  /** The sessions that have open tunnels here. */
  sessionIds(): string[];
  /** Whether a session has open tunnels here. */
  hasSession(sessionId: string): boolean;
  /** Ends every tunnel opened with this session (logout, revoke, expiry on any replica). */
  closeSession(sessionId: string): number;
  /** Ends (1008) every tunnel whose grant `allowed` no longer admits; answers how many. */
  recheck(allowed: (grant: TunnelGrant) => boolean): number;
  /** Ends every tunnel (shutdown: 1001 going away). */
  closeAll(code?: number): void;
  /** Stops the expiry sweep (the gateway closes). */
  stop(): void;
};

const SWEEP_MS = 30_000;

/**
 * The WebSockets this gateway relays now, by session: owned by the gateway instance, so closing
 * one gateway never touches another's tunnels, and a session that ends takes its terminals with it.
 */
export function createTunnels(): Tunnels {
  const all = new Map<Duplex, Tunnel>();
  const bySession = new Map<string, Set<Duplex>>();
  const end = (t: Tunnel, code: number) => {
    // Stop relaying first: nothing more from the upstream may follow the close frame.
    t.upstream.destroy();
    closeFrame(t.client, code);
  };
  // A terminal does not outlive the session's maximum age: no store lookup, the time is known.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const t of all.values()) if (t.expiresAt <= now) end(t, CLOSE_POLICY);
  }, SWEEP_MS);
  sweep.unref();
  return {
    get size() {
      return all.size;
    },
    add(client, upstream, sessionId, expiresAt, grant) {
      const t: Tunnel = { client, upstream, sessionId, expiresAt, grant, timer: undefined };
      // The sweep would be up to 30 s late for a token that lives a minute: such a one gets its
      // own timer (few do: sessions live hours, and idle terminals must stay cheap).
      const left = expiresAt - Date.now();
      if (left < SWEEP_MS) {
        t.timer = setTimeout(() => end(t, CLOSE_POLICY), Math.max(0, left));
        t.timer.unref();
      }
      all.set(client, t);
      if (!sessionId) return;
      let set = bySession.get(sessionId);
      if (!set) bySession.set(sessionId, (set = new Set()));
      set.add(client);
    },
    remove(client) {
      const t = all.get(client);
      if (!t) return;
      clearTimeout(t.timer);
      all.delete(client);
      if (!t.sessionId) return;
      const set = bySession.get(t.sessionId);
      set?.delete(client);
      if (set?.size === 0) bySession.delete(t.sessionId);
    },
    sessionIds() {
      return [...bySession.keys()];
    },
    hasSession(sessionId) {
      return bySession.has(sessionId);
    },
    closeSession(sessionId) {
      const set = bySession.get(sessionId);
      if (!set) return 0;
      let n = 0;
      for (const client of [...set]) {
        const t = all.get(client);
        if (t) {
          end(t, CLOSE_POLICY);
          n++;
        }
      }
      return n;
    },
    recheck(allowed) {
      let n = 0;
      for (const t of [...all.values()])
        if (t.grant && !allowed(t.grant)) {
          end(t, CLOSE_POLICY);
          n++;
        }
      return n;
    },
    closeAll(code = CLOSE_GOING_AWAY) {
      for (const t of [...all.values()]) end(t, code);
    },
    stop() {
      clearInterval(sweep);
    },
  };
}

/** A close frame, unmasked as a server sends it; the socket is destroyed shortly after. */
function closeFrame(socket: Duplex, code: number): void {
  if (socket.destroyed) return;
  socket.end(Buffer.from([0x88, 0x02, code >> 8, code & 0xff]));
  setTimeout(() => socket.destroy(), 1000).unref();
}
