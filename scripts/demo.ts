// `npm start`: the whole OEM OUT picture on one machine, with no external service.
//   http://localhost:8080/        the demo customer system (through Portico)
//   http://localhost:8080/dce5/   the demo AI platform, with a web terminal over WebSocket
import { join } from 'node:path';
import { createGateway } from '../gateway/server.ts';
import { startAiPlatform } from './demo/aiPlatform.ts';
import { startCustomerSystem } from './demo/customerSystem.ts';

const root = join(import.meta.dirname, '..');
const customerPort = Number(process.env.DEMO_CUSTOMER_PORT ?? 18081);
const aiPort = Number(process.env.DEMO_AI_PORT ?? 18082);

const customer = await startCustomerSystem({ port: customerPort });
const ai = await startAiPlatform({ port: aiPort });
process.env.DEMO_CUSTOMER_URL ??= customer.url;
process.env.DEMO_AI_URL ??= ai.url;

const gateway = createGateway({ configFile: process.env.PORTICO_CONFIG ?? join(root, 'routes.yaml') });
await gateway.listen();
const base = gateway.url().replace('127.0.0.1', 'localhost');

process.stdout.write(`
  Portico demo is running.

    Customer system   ${base}/
    AI platform       ${base}/dce5/
    Web terminal      ${base}/dce5/terminal

  Edit routes.yaml and save: the gateway reloads it (a broken file is rejected, the last good one keeps serving).
  Press Ctrl-C to stop.

`);

const stop = async () => {
  await gateway.close(2000);
  await Promise.all([customer.close(), ai.close()]);
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
