import type { Logger } from 'pino';
import type { LoginTransactions } from './auth/session/loginTransactions.ts';
import type { Sessions } from './auth/session/sessions.ts';
import type { ProviderRegistry } from './auth/providers/registry.ts';
import type { Config } from './config/types.ts';
import type { EventBus } from './events.ts';
import type { Assertions } from './identity/assertion.ts';
import type { KeyStore } from './identity/signingKeys.ts';
import type { ErrorReporter } from './observe/errorReporter.ts';
import type { AccessLog } from './observe/accessLogWriter.ts';
import type { Pages } from './pages/pages.ts';
import type { MaintenanceSwitch } from './routePolicy/maintenanceSwitch.ts';
import type { UpstreamPool } from './proxy/upstreamPool.ts';
import type { Tunnels } from './proxy/tunnels.ts';
import type { KeyValueStore } from './store/keyValueStore.ts';

/**
 * Everything a gateway instance owns, built once by createGateway and handed to the stages and
 * features that use them. Nothing here is module-level: two gateways in one process share nothing.
 */
export type Services = {
  /** The config in force now (a reload swaps it; a request keeps the one it started with). */
  config(): Config;
  readonly log: Logger;
  /** Access-log lines (same stream, without the redaction pass: lines are built from safe fields). */
  readonly accessLog: AccessLog;
  readonly events: EventBus;
  /** Shared by replicas (Redis) or this instance's memory: locks, throttles, replay caches, keys. */
  readonly store: KeyValueStore;
  /** The OpenID Provider's own data (the same Redis, or a memory store of its own: memoryStores.ts). */
  readonly oidcStore: KeyValueStore;
  readonly sessions: Sessions;
  readonly logins: LoginTransactions;
  readonly keys: KeyStore;
  readonly assertions: Assertions;
  readonly providers: ProviderRegistry;
  readonly upstreams: UpstreamPool;
  readonly tunnels: Tunnels;
  readonly pages: Pages;
  readonly errors: ErrorReporter;
  /** Routes the admin API put into maintenance, shared by replicas through the store. */
  readonly maintenance: MaintenanceSwitch;
};
