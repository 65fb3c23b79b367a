// The routes.yaml files the bench runs Portico with.

/**
 * Three routes to one upstream: anonymous, authenticated (Redis session, identity headers), + JWT;
 * and /dce5/ as deploy/nginx/ protects it, for the forward-auth checks nginx sends from 127.0.0.1.
 */
function withSessions(opts: {
  port: number;
  upstream: string;
  secret: string;
  redisUrl: string;
  keyPrefix: string;
  accessLog: boolean;
  comment?: string;
}): string {
  const { port, upstream, secret, redisUrl, keyPrefix, accessLog } = opts;
  return `# ${opts.comment ?? ''}
listen: { host: 127.0.0.1, port: ${port} }
publicUrl: http://127.0.0.1:${port}
trustProxy: [127.0.0.1]
session: { secret: ${secret}, store: redis, redis: { url: "${redisUrl}", keyPrefix: "${keyPrefix}" } }
identityProviders:
  - { id: corp, type: oidc, issuer: "http://127.0.0.1:9", clientId: bench }
logging: { level: info, accessLog: ${accessLog} }
routes:
  - { id: anon, path: /anon/, upstream: "${upstream}/", websocket: true }
  - { id: auth, path: /auth/, upstream: "${upstream}/", auth: required, inject: { headers: true } }
  - { id: jwt, path: /jwt/, upstream: "${upstream}/", auth: required, inject: { headers: true, jwt: true } }
  - { id: dce5, path: /dce5/, upstream: "${upstream}/", auth: required, inject: { headers: true, jwt: true } }
`;
}

/** A pure reverse proxy: no identity providers, no session, no storage; one route. */
function pureProxy(opts: { port: number; upstream: string; logLevel: string }): string {
  return `listen: { host: 127.0.0.1, port: ${opts.port} }
logging: { level: ${opts.logLevel} }
routes:
  - { id: dce5, path: /dce5/, upstream: "${opts.upstream}/", websocket: true }
`;
}

export const porticoConfig = { withSessions, pureProxy };
