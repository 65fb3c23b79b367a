// The AI platform's `/apis/…`, behind the "Istio" check: every call needs a bearer JWT of the
// realm or an access key, except the access-key JWKS that Istio itself reads. Paths follow DCE's
// API groups (ghippo.io for the user and keys, baize.io for AI Lab, kpanda.io for clusters); the
// data is made up. Its paths are shaped as DCE's are, colons included: Kubernetes-style proxy
// subresources (`pods/<name>:<port>/proxy/…`) and gRPC-gateway custom verbs (`jobs/<name>:cancel`),
// read as Go's net/http reads them (percent-escapes decoded, so `%3A` is a colon).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, sendText } from '../common.ts';
import type { AccessKeys } from './accessKeys.ts';
import { bearerOf } from './brokerHttp.ts';
import { CLUSTERS, JOBS } from './demoData.ts';
import type { AuthResult, Principal } from './requestAuthentication.ts';

export type PlatformApisOptions = {
  authenticate: (token: string | undefined) => Promise<AuthResult>;
  accessKeys: AccessKeys;
  /** The realm's issuer: only its tokens (a signed-in user) may create access keys. */
  realmIssuer: string;
};

const GHIPPO = '/apis/ghippo.io/v1alpha1';
const BAIZE = '/apis/baize.io/v1alpha1';
const KPANDA = '/apis/kpanda.io/v1alpha1';
/** `clusters/<c>/namespaces/<ns>/pods/<name>[:<port>]/proxy[/<path>]`, as Kubernetes names its pod proxy. */
const POD_PROXY = /^\/clusters\/([^/]+)\/namespaces\/([^/]+)\/pods\/([^/:]+)(?::([^/]+))?\/proxy(\/.*)?$/;
/** `jobs/<name>:cancel`: a gRPC-gateway custom verb. */
const JOB_VERB = /^\/jobs\/([^/:]+):([a-zA-Z]+)$/;

/** Answers `/apis/…`; false for other paths. */
export function platformApis(
  o: PlatformApisOptions,
): (req: IncomingMessage, res: ServerResponse, path: string) => boolean {
  const run = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    if (path === `${GHIPPO}/certs` && req.method === 'GET')
      return sendJson(req, res, 200, o.accessKeys.key.jwks);
    const verdict = await o.authenticate(bearerOf(req));
    if (!verdict.ok) {
      res.setHeader('www-authenticate', `Bearer realm="${o.realmIssuer}", error="invalid_token"`);
      return sendText(req, res, 401, `${verdict.reason}\n`);
    }
    const who = verdict.principal;
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === `${GHIPPO}/current-user`)
      return sendJson(req, res, 200, describe(who, o.realmIssuer));
    if (path === `${GHIPPO}/current-user/accesstokens`) {
      if (method === 'GET') return sendJson(req, res, 200, { items: o.accessKeys.list(who.sub) });
      if (method === 'POST') {
        if (who.issuer !== o.realmIssuer)
          return sendJson(req, res, 403, {
            code: 7,
            message: 'access keys are created from a signed-in session only',
          });
        const body = await readJson(req);
        const name = typeof body.name === 'string' ? body.name.trim().slice(0, 64) : '';
        if (name === '') return sendJson(req, res, 400, { code: 3, message: 'name is required' });
        return sendJson(req, res, 201, await o.accessKeys.create(who, name));
      }
    }
    if (method === 'GET' && path === `${BAIZE}/clusters`) return sendJson(req, res, 200, { items: CLUSTERS });
    if (method === 'GET' && path === `${BAIZE}/jobs`) return sendJson(req, res, 200, { items: JOBS });
    const decoded = decodePath(path);
    const verb = decoded?.startsWith(`${BAIZE}/`) ? JOB_VERB.exec(decoded.slice(BAIZE.length)) : null;
    if (verb && method === 'POST') {
      const job = JOBS.find((j) => j.name === verb[1]);
      if (!job) return sendJson(req, res, 404, { code: 5, message: `job ${verb[1]} not found` });
      if (verb[2] !== 'cancel') return sendJson(req, res, 404, { code: 5, message: `no verb ${verb[2]}` });
      return sendJson(req, res, 200, { ...job, state: 'Cancelled', cancelledBy: who.username });
    }
    const pod = decoded?.startsWith(`${KPANDA}/`) ? POD_PROXY.exec(decoded.slice(KPANDA.length)) : null;
    if (pod) {
      const [, cluster, namespace, name, port, rest] = pod;
      if (!CLUSTERS.some((c) => c.name === cluster))
        return sendJson(req, res, 404, { code: 5, message: `cluster ${cluster} not found` });
      return sendJson(req, res, 200, {
        cluster,
        namespace,
        pod: name,
        port: port ?? null,
        path: rest ?? '/',
        method,
        user: who.username,
      });
    }
    sendJson(req, res, 404, { code: 5, message: `no API at ${path}` });
  };
  return (req, res, path) => {
    if (!path.startsWith('/apis/')) return false;
    run(req, res, path).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      sendJson(req, res, (err as { status?: number }).status ?? 500, {
        code: 13,
        message: (err as Error).message,
      });
    });
    return true;
  };
}

/** The path as Go's net/http reads it (r.URL.Path): percent-escapes decoded; undefined if invalid. */
function decodePath(path: string): string | undefined {
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}

function describe(who: Principal, realmIssuer: string) {
  return {
    id: who.sub,
    username: who.username,
    email: who.email ?? null,
    name: who.name ?? null,
    issuer: who.issuer,
    authenticatedBy: who.issuer === realmIssuer ? 'session token' : 'access key',
  };
}

async function readJson(req: IncomingMessage, limit = 16 * 1024): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(chunk);
  }
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    throw Object.assign(new Error('body is not JSON'), { status: 400 });
  }
}
