import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Logger } from 'pino';
import type { FeatureFactory } from '../../gateway/server.ts';
import { makeCertificates } from './certs.ts';
import { type StartedGateway, startGateway } from './gateway.ts';
import { type Idp, startTestIdp } from './idp.ts';
import { freePort } from './ports.ts';
import { SESSION_SECRET } from './sso.ts';

export type TlsGateway = StartedGateway & {
  /** The test CA that signed the listener's certificate (for localhost and 127.0.0.1). */
  ca: Buffer;
  /** The files routes.yaml names. */
  files: { ca: string; key: string; cert: string };
};

/** A certificate for localhost and 127.0.0.1, signed by a test CA, removed after the test. */
export function listenerCertificates(t: Pick<TestContext, 'after'>): {
  ca: string;
  key: string;
  cert: string;
} {
  const dir = mkdtempSync(join(tmpdir(), 'portico-listener-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return makeCertificates(dir, { cn: 'localhost', names: ['DNS:localhost', 'IP:127.0.0.1'] });
}

/**
 * Portico with `listen.tls` (and `http2` when given) in front of `routes` (the `routes:` list and
 * anything after it); `before` goes above `listen:` (publicUrl, session, identityProviders…).
 */
export async function startTlsGateway(
  t: TestContext,
  routes: string,
  o: {
    http2?: boolean;
    before?: string;
    port?: number;
    features?: FeatureFactory[];
    logger?: Logger;
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<TlsGateway> {
  const files = listenerCertificates(t);
  const http2 = o.http2 === undefined ? '' : `, http2: ${o.http2}`;
  const yaml = `${o.before ?? ''}listen:\n  tls: { cert: "${files.cert}", key: "${files.key}"${http2} }\n${routes}`;
  const gw = await startGateway(t, yaml, {
    port: o.port,
    features: o.features,
    logger: o.logger,
    env: o.env,
  });
  return { ...gw, ca: readFileSync(files.ca), files };
}

/**
 * A real OpenID Connect IdP and Portico on a TLS listener, publicUrl `https://127.0.0.1:<port>`
 * (a known free port: the IdP must know the callback), identity provider `corp`.
 */
export async function startTlsSso(
  t: TestContext,
  routes: string,
  o: { extra?: string; features?: FeatureFactory[]; env?: NodeJS.ProcessEnv } = {},
): Promise<{ gw: TlsGateway; idp: Idp; publicUrl: string }> {
  const port = await freePort();
  const publicUrl = `https://127.0.0.1:${port}`;
  const idp = await startTestIdp(t, {
    clients: [
      {
        clientId: 'portico',
        clientSecret: 'portico-secret',
        redirectUris: [`${publicUrl}/_portico/callback/corp`],
        postLogoutRedirectUris: [`${publicUrl}/_portico/logged-out`],
      },
    ],
    logErrors: false,
  });
  const gw = await startTlsGateway(t, routes, {
    port,
    before: `publicUrl: ${publicUrl}
session: { secret: ${SESSION_SECRET}, store: memory }
identityProviders:
  - { id: corp, type: oidc, name: Customer SSO, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret, scopes: [openid, profile, email, groups] }
${o.extra ?? ''}`,
    features: o.features,
    env: o.env,
  });
  return { gw, idp, publicUrl };
}
