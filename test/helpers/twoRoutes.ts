import type { TestContext } from 'node:test';
import { type SsoSetup, startSso } from './sso.ts';
import { startUpstream, type Upstream } from './upstream.ts';

export type TwoRoutes = { sso: SsoSetup; prot: Upstream; pub: Upstream };

/**
 * The set-up the security suites attack: behind a real IdP, the route `ai` (on /dce5/ unless
 * `path` says otherwise) to the protected upstream and the route `public` on / to the public one,
 * both recording what reaches them. `keys` are what each route adds (auth, websocket, inject…).
 */
export async function startProtectedAndPublic(
  t: TestContext,
  keys: { ai: string; public: string },
  options: { path?: string; websocket?: boolean } = {},
): Promise<TwoRoutes> {
  const prot = await startUpstream({ websocket: options.websocket });
  const pub = await startUpstream({ websocket: options.websocket });
  t.after(() => Promise.all([prot.close(), pub.close()]));
  const sso = await startSso(
    t,
    `  - { id: ai, path: ${options.path ?? '/dce5/'}, upstream: "${prot.url}", ${keys.ai} }
  - { id: public, path: /, upstream: "${pub.url}", ${keys.public} }
`,
  );
  return { sso, prot, pub };
}
