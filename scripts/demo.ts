// `npm start`: the whole OEM OUT picture on one machine, with no external service.
//   http://localhost:8080/        the demo customer system (through Portico)
//   http://localhost:8080/dce5/   the demo AI platform, with a web terminal over WebSocket
// plus a development OpenID Connect provider (oidc-provider) with two users.
import { startDemo } from './demo/startDemo.ts';

const env = process.env;
const demo = await startDemo({
  port: Number(env.PORTICO_PORT ?? 8080),
  publicUrl: env.PORTICO_PUBLIC_URL,
  customerPort: Number(env.DEMO_CUSTOMER_PORT ?? 18081),
  aiPort: Number(env.DEMO_AI_PORT ?? 18082),
  idpPort: Number(env.DEMO_IDP_PORT ?? 18090),
});
const base = demo.publicUrl;

process.stdout.write(`
  Portico demo is running.

    Customer system   ${base}/
    AI platform       ${base}/dce5/          (sign-in required, group ai-users)
    Web terminal      ${base}/dce5/terminal
    Identity provider ${demo.idp.issuer}
    Health, metrics   ${base}/_portico/readyz   ${base}/_portico/metrics

  Sign in as  alice / alice   (in ai-users: may open the AI platform)
         or   bob   / bob     (not in ai-users: the AI platform answers 403)

  Edit routes.yaml or branding/brand.yaml and save: Portico reloads them (a broken file is
  rejected with its line numbers and the last good one keeps serving). Ctrl-C stops.

`);

const stop = async () => {
  await demo.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
