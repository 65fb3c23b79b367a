import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type Logger, pino } from 'pino';
import { createGateway, type FeatureFactory, type Gateway } from '../../gateway/server.ts';

/** A route for configs a test does not route through (Portico refuses a config without routes). */
export const ANY_ROUTE = 'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n';

export type StartedGateway = {
  url: string;
  gateway: Gateway;
  file: string;
  /** Replaces routes.yaml on disk (the watcher reloads it). */
  write(yaml: string): void;
};

/** Writes routes.yaml to a fresh folder, starts Portico on 127.0.0.1:0 and closes it after the test. */
export async function startGateway(
  t: TestContext,
  yaml: string,
  options: {
    env?: NodeJS.ProcessEnv;
    watch?: boolean;
    logLevel?: string;
    /** The gateway's logger (and access logger), e.g. one writing into an array a test reads. */
    logger?: Logger;
    port?: number;
    /** Features started with the gateway (admin, storage, …); a function gets the routes.yaml path. */
    features?: FeatureFactory[] | ((file: string) => FeatureFactory[]);
  } = {},
): Promise<StartedGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-test-'));
  const file = join(dir, 'routes.yaml');
  writeFileSync(file, yaml);
  const gateway = createGateway({
    configFile: file,
    port: options.port ?? 0,
    host: '127.0.0.1',
    watch: options.watch ?? false,
    features: typeof options.features === 'function' ? options.features(file) : options.features,
    env: { ...process.env, ...options.env },
    logger: options.logger ?? pino({ level: options.logLevel ?? process.env.PORTICO_TEST_LOG ?? 'silent' }),
  });
  await gateway.listen();
  t.after(async () => {
    await gateway.close(500);
    rmSync(dir, { recursive: true, force: true });
  });
  return { url: gateway.url(), gateway, file, write: (text) => writeFileSync(file, text) };
}

/** Connections open to the gateway's port, as its server counts them (accepted, not yet closed). */
export function openConnections(gw: { gateway: Pick<Gateway, 'server'> }): Promise<number> {
  return new Promise((resolve, reject) =>
    gw.gateway.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );
}
