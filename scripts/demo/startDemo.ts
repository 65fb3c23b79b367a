import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { defaultFeatures } from '../../gateway/features.ts';
import { createGateway, type Gateway } from '../../gateway/server.ts';
import { startAiPlatform } from './aiPlatform.ts';
import { startCustomerSystem } from './customerSystem.ts';
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
};

export type Demo = { publicUrl: string; gateway: Gateway; idp: Idp; close(): Promise<void> };

const root = join(import.meta.dirname, '..', '..');

/**
 * The OEM OUT picture on one machine: the demo customer system, the demo AI platform (with its
 * web terminal), a development OpenID Connect provider and Portico with the top-level routes.yaml.
 * Used by `npm start` and by the end-to-end browser test.
 */
export async function startDemo(o: DemoOptions): Promise<Demo> {
  const publicUrl = o.publicUrl ?? `http://localhost:${o.port}`;
  const clientSecret = randomBytes(16).toString('hex');
  const customer = await startCustomerSystem({ port: o.customerPort ?? 0 });
  const ai = await startAiPlatform({ port: o.aiPort ?? 0 });
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
  };
  const gateway = createGateway({
    configFile,
    env,
    logger: o.logger,
    features: defaultFeatures({ configFile, brandingDir: join(root, 'branding'), hasStorage: false }),
  });
  await gateway.listen();
  return {
    publicUrl,
    gateway,
    idp,
    async close() {
      await gateway.close(1000);
      await Promise.all([customer.close(), ai.close(), idp.close()]);
    },
  };
}
