import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';

/**
 * Keep-alive agents, one per upstream origin and TLS setting. They live in a pool that outlives a
 * config reload, so a reload does not drop warm connections to unchanged upstreams.
 */
const pool = new Map<string, HttpAgent | HttpsAgent>();

export type UpstreamTls = {
  insecureSkipVerify?: boolean;
  ca?: string;
  serverName?: string;
  cert?: string;
  key?: string;
};

/**
 * TLS options for an https upstream. The server name is always the upstream's own (or the
 * configured `serverName`), never the client's Host header, which Node would otherwise use for
 * SNI and certificate checks when the Host is passed through.
 */
export function tlsOptionsFor(
  upstream: URL,
  tls: UpstreamTls | undefined,
  baseDir: string,
): Record<string, unknown> {
  const read = (file: string) => readFileSync(new URL(file, `file://${baseDir}/`));
  const options: Record<string, unknown> = {};
  const host = upstream.hostname.replace(/^\[|\]$/g, '');
  const name = tls?.serverName ?? host;
  if (isIP(name)) {
    options.checkServerIdentity = (_servername: string, cert: PeerCertificate) =>
      checkServerIdentity(name, cert);
  } else {
    options.servername = name;
  }
  if (!tls) return options;
  if (tls.insecureSkipVerify) options.rejectUnauthorized = false;
  if (tls.ca) options.ca = read(tls.ca);
  if (tls.cert) options.cert = read(tls.cert);
  if (tls.key) options.key = read(tls.key);
  return options;
}

export function agentFor(upstream: URL, tls: UpstreamTls | undefined, tlsOptions: Record<string, unknown>) {
  const key = `${upstream.protocol}//${upstream.host}|${JSON.stringify(tls ?? {})}`;
  let agent = pool.get(key);
  if (!agent) {
    const common = {
      keepAlive: true,
      keepAliveMsecs: 1000,
      maxSockets: 256,
      maxFreeSockets: 64,
      scheduling: 'lifo' as const,
    };
    agent =
      upstream.protocol === 'https:' ? new HttpsAgent({ ...common, ...tlsOptions }) : new HttpAgent(common);
    pool.set(key, agent);
  }
  return agent;
}

/** Closes idle sockets of every agent (on shutdown). */
export function destroyAgents(): void {
  for (const agent of pool.values()) agent.destroy();
  pool.clear();
}
