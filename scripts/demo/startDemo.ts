import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { defaultFeatures } from '../../gateway/features.ts';
import { createGateway, type Gateway } from '../../gateway/server.ts';
import { type AiPlatform, startAiPlatform } from './aiPlatform.ts';
import { startCustomerSystem } from './customerSystem.ts';
import type { IdentityProviderOptions } from './dce/identityProvider.ts';
import { type Idp, startIdp } from './idp.ts';

export type DemoOptions = {
  port: number;
  /** The origin users browse to (default http://localhost:<port>). */
  publicUrl?: string;
  host?: string;
  customerPort?: number;
  aiPort?: number;
  idpPort?: number;
  /** Host name in the IdP's issuer (what the browser sees). */
  idpHost?: string;
  configFile?: string;
  logger?: Logger;
  /**
   * The identity provider registered in the AI platform's realm (what a DCE admin enters under
   * Access Control → Identity Provider → OIDC). Default: Portico's own OpenID Provider
   * (`<publicUrl>/_portico/oidc`, client `dce5-ghippo` of routes.yaml), as in a real OEM OUT
   * deployment: one sign-in at Portico, none at the AI platform.
   */
  aiPlatformIdp?: IdentityProviderOptions;
  /** How often the AI platform's UI checks its session (default 10 s). */
  aiSessionCheckMs?: number;
  /**
   * The realm refuses Portico's back-channel logout tokens (the default provider's
   * `refuseLogoutTokens`): a DCE whose Keycloak does not end brokered sessions that way.
   */
  aiRefusesLogoutTokens?: boolean;
};

export type Demo = { publicUrl: string; gateway: Gateway; idp: Idp; ai: AiPlatform; close(): Promise<void> };

const root = join(import.meta.dirname, '..', '..');

/** The AI platform's route prefix in routes.yaml; the platform's reverseProxy is publicUrl + this. */
export const AI_PREFIX = '/dce5';

/**
 * The OEM OUT picture on one machine: the demo customer system, the demo AI platform (with its
 * own sign-in realm and web terminal), a development OpenID Connect provider and Portico with the
 * top-level routes.yaml. Used by `npm start` and by the end-to-end browser test.
 */
export async function startDemo(o: DemoOptions): Promise<Demo> {
  const publicUrl = o.publicUrl ?? `http://localhost:${o.port}`;
  const reverseProxy = `${publicUrl}${AI_PREFIX}`;
  const clientSecret = randomBytes(16).toString('hex');
  const started: { close(): Promise<void> }[] = [];
  try {
    const customer = await startCustomerSystem({ port: o.customerPort ?? 0 });
    started.push(customer);
    const idp = await startIdp({
      port: o.idpPort ?? 0,
      issuerHost: o.idpHost ?? new URL(publicUrl).hostname,
      clients: [
        {
          clientId: 'portico',
          clientSecret,
          redirectUris: [`${publicUrl}/_portico/callback/corp`],
          postLogoutRedirectUris: [`${publicUrl}/_portico/logged-out`],
          backchannelLogoutUri: `${publicUrl}/_portico/backchannel-logout/corp`,
        },
      ],
    });
    started.push(idp);
    const brokerSecret = randomBytes(32).toString('hex');
    const aiIdp: IdentityProviderOptions = o.aiPlatformIdp ?? {
      // The alias routes.yaml's keycloakIdpHint names: the realm goes straight to Portico.
      alias: 'portico',
      displayName: 'OIDC (custom)',
      issuer: `${publicUrl}/_portico/oidc`,
      clientId: 'dce5-ghippo',
      clientSecret: brokerSecret,
      clientAuthMethod: 'client_secret_post',
      refuseLogoutTokens: o.aiRefusesLogoutTokens,
    };
    const ai = await startAiPlatform({
      port: o.aiPort ?? 0,
      reverseProxy,
      identityProviders: [aiIdp],
      sessionCheckMs: o.aiSessionCheckMs,
    });
    started.push(ai);
    const configFile = o.configFile ?? join(root, 'routes.yaml');
    const env = {
      ...process.env,
      PORTICO_HOST: o.host ?? '127.0.0.1',
      PORTICO_PORT: String(o.port),
      PORTICO_PUBLIC_URL: publicUrl,
      // Demo secrets are made fresh at every start; production takes them from its environment.
      SESSION_SECRET: process.env.SESSION_SECRET ?? randomBytes(32).toString('hex'),
      OIDC_CLIENT_SECRET: clientSecret,
      DEMO_CUSTOMER_URL: customer.url,
      DEMO_AI_URL: ai.url,
      DEMO_IDP_ISSUER: idp.issuer,
      // The realm's client at Portico's OpenID Provider (oidcProvider.clients in routes.yaml).
      GHIPPO_CLIENT_SECRET: brokerSecret,
      // Server to server: straight to the platform, not through /dce5/, where Portico asks every
      // request for a signed-in session.
      DEMO_AI_BACKCHANNEL_URL: new URL(
        `${ai.realm.urls.localPath.slice(1)}/protocol/openid-connect/logout/backchannel-logout`,
        ai.url,
      ).href,
    };
    const gateway = createGateway({
      configFile,
      env,
      logger: o.logger,
      features: defaultFeatures({ configFile, brandingDir: join(root, 'branding'), hasStorage: false }),
    });
    started.push({ close: () => gateway.close(1000) });
    await gateway.listen();
    return {
      publicUrl,
      gateway,
      idp,
      ai,
      async close() {
        await gateway.close(1000);
        await Promise.all([customer.close(), ai.close(), idp.close()]);
      },
    };
  } catch (err) {
    // A port in use halfway through must not leave the servers started before it running.
    await Promise.allSettled(started.map((s) => s.close()));
    throw err;
  }
}
