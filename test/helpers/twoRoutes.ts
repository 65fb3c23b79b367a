import { before, type TestContext } from 'node:test';
import { login, type SsoSetup, startSso } from './sso.ts';
import { suiteContext } from './suite.ts';
import { startUpstream, type Upstream } from './upstream.ts';

/** The gateway and its IdP, with the protected upstream `prot` and the public one `pub`. */
export type TwoRoutes = SsoSetup & { prot: Upstream; pub: Upstream };

/**
 * The set-up the security suites attack: behind a real IdP, the route `ai` (on /dce5/ unless
 * `path` says otherwise) to the protected upstream and the route `public` on / to the public one,
 * both recording what reaches them. `keys` are what each route adds (auth, websocket, inject…).
 */
export async function startProtectedAndPublic(
  t: TestContext,
  keys: { ai: string; public: string },
  options: { path?: string; websocket?: boolean; extra?: string } = {},
): Promise<TwoRoutes> {
  const prot = await startUpstream({ websocket: options.websocket });
  const pub = await startUpstream({ websocket: options.websocket });
  t.after(() => Promise.all([prot.close(), pub.close()]));
  const sso = await startSso(
    t,
    `  - { id: ai, path: ${options.path ?? '/dce5/'}, upstream: "${prot.url}", ${keys.ai} }
  - { id: public, path: /, upstream: "${pub.url}", ${keys.public} }
`,
    { extra: options.extra },
  );
  return { ...sso, prot, pub };
}

/** Two routes for a whole describe block, and alice's session cookie unless `signIn` is false. */
export type TwoRoutesSuite = TwoRoutes & { cookie: string };

/**
 * Starts the two routes in the calling describe block's `before` (alice signed in) and closes them
 * after it; the returned object is filled in once `before` ran.
 */
export function twoRoutesSuite(
  keys: { ai: string; public: string },
  options: { path?: string; websocket?: boolean; signIn?: boolean } = {},
): TwoRoutesSuite {
  const t = suiteContext();
  const s = {} as TwoRoutesSuite;
  before(async () => {
    Object.assign(s, await startProtectedAndPublic(t, keys, options));
    if (options.signIn !== false) s.cookie = (await login(s, 'alice')).client.cookieHeader();
  });
  return s;
}

/**
 * After a 101: waits until either upstream has recorded one more request than `before` counted
 * (its WebSocket server accepts the upgrade a moment after the 101), at most `timeoutMs`.
 */
export function upgradeRecorded(
  s: TwoRoutes,
  before: { prot: number; pub: number },
  timeoutMs = 500,
): Promise<boolean> {
  return Promise.race([
    s.prot.waitForRequests(before.prot + 1, timeoutMs),
    s.pub.waitForRequests(before.pub + 1, timeoutMs),
  ]);
}
