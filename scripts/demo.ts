// `npm start`: the whole OEM OUT picture on one machine, with no external service.
//   http://localhost:8080/        the demo customer system (through Portico)
//   http://localhost:8080/dce5/   the demo AI platform, with a web terminal over WebSocket
// plus a development OpenID Connect provider (oidc-provider) with two users.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { defaultFeatures } from '../gateway/features.ts';
import { createGateway } from '../gateway/server.ts';
import { startAiPlatform } from './demo/aiPlatform.ts';
import { startCustomerSystem } from './demo/customerSystem.ts';
import { startIdp } from './demo/idp.ts';

const root = join(import.meta.dirname, '..');
const env = process.env;
const port = Number(env.PORTICO_PORT ?? 8080);
env.PORTICO_PUBLIC_URL ??= `http://localhost:${port}`;
// Demo secrets are made fresh at every start; production takes them from its environment.
env.SESSION_SECRET ??= randomBytes(32).toString('hex');
env.OIDC_CLIENT_SECRET ??= randomBytes(16).toString('hex');

const customer = await startCustomerSystem({ port: Number(env.DEMO_CUSTOMER_PORT ?? 18081) });
const ai = await startAiPlatform({ port: Number(env.DEMO_AI_PORT ?? 18082) });
const idp = await startIdp({
  port: Number(env.DEMO_IDP_PORT ?? 18090),
  issuerHost: 'localhost',
  clients: [
    {
      clientId: 'portico',
      clientSecret: env.OIDC_CLIENT_SECRET,
      redirectUris: [`${env.PORTICO_PUBLIC_URL}/_portico/callback/corp`],
      postLogoutRedirectUris: [`${env.PORTICO_PUBLIC_URL}/_portico/logged-out`],
      backchannelLogoutUri: `${env.PORTICO_PUBLIC_URL}/_portico/backchannel-logout/corp`,
    },
  ],
});
env.DEMO_CUSTOMER_URL ??= customer.url;
env.DEMO_AI_URL ??= ai.url;
env.DEMO_IDP_ISSUER ??= idp.issuer;

const configFile = env.PORTICO_CONFIG ?? join(root, 'routes.yaml');
const gateway = createGateway({
  configFile,
  features: defaultFeatures({ configFile, brandingDir: join(root, 'branding'), hasStorage: false }),
});
await gateway.listen();
const base = env.PORTICO_PUBLIC_URL;

process.stdout.write(`
  Portico demo is running.

    Customer system   ${base}/
    AI platform       ${base}/dce5/          (sign-in required, group ai-users)
    Web terminal      ${base}/dce5/terminal
    Identity provider ${idp.issuer}

  Sign in as  alice / alice   (in ai-users: may open the AI platform)
         or   bob   / bob     (not in ai-users: the AI platform answers 403)

  Edit routes.yaml or branding/brand.yaml and save: Portico reloads them (a broken file is
  rejected with its line numbers and the last good one keeps serving). Ctrl-C stops.

`);

const stop = async () => {
  await gateway.close(2000);
  await Promise.all([customer.close(), ai.close(), idp.close()]);
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
