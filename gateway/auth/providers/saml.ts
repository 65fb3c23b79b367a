import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import {
  type CacheProvider,
  type Profile,
  SAML,
  type SamlConfig,
  ValidateInResponseTo,
} from '@node-saml/node-saml';
import { parseDuration } from '../../config/duration.ts';
import type { ProviderDefinition } from '../../config/types.ts';
import type { Identity } from '../../context.ts';
import { GatewayError } from '../../errors.ts';
import type { Lang } from '../../pages/negotiate.ts';
import { localised } from './oidc.ts';
import type { ProviderContext } from './registry.ts';
import { checkAssertion, responseDestination, responseStatus, SUCCESS } from './saml/assertion.ts';
import { type LogoutRequestFacts, type SloMessage, verifyLogoutRequest } from './saml/logoutRequest.ts';
import { createOnceCache } from './saml/replayCache.ts';
import type { CompleteInput, LoginProvider, LoginResult } from './types.ts';

/** `identityProviders[]` with `type: saml`, as config/schema.ts defines it. */
export type SamlDefinition = ProviderDefinition<'saml'>;

/** A SAML login provider, plus what the metadata router needs. */
export type SamlProvider = LoginProvider & {
  readonly type: 'saml';
  /** SP metadata (entity id, ACS, SLO, signing certificate) for the IdP administrator. */
  spMetadata(origin?: string): string;
  /**
   * An IdP-initiated LogoutRequest (HTTP-Redirect or HTTP-POST), verified: whose sessions to end,
   * and the URL of the LogoutResponse to send the browser back to the IdP with. Throws a 400
   * GatewayError when the request is not accepted.
   */
  logoutRequest(message: SloMessage, origin?: string): Promise<IdpLogout>;
};

export type IdpLogout = {
  nameID: string;
  sessionIndex: string | undefined;
  /** A signed (with `privateKey`) LogoutResponse to `logoutUrl`, by HTTP-Redirect. */
  answer(): Promise<URL>;
};

const REQUEST_TTL_MS = 10 * 60_000;
const MAX_REPLAY_MEMORY_MS = 24 * 3_600_000;
const EXPIRED = 'The sign-in link expired or was already used.';
const REFUSED = 'The answer of the identity provider was not accepted.';
const LOGOUT_REFUSED = 'The logout request of the identity provider was not accepted.';

/** Attribute names tried when the mapping names none (LDAP OIDs, ADFS/Entra claim URIs). */
const FALLBACKS = {
  username: ['uid', 'username', 'urn:oid:0.9.2342.19200300.100.1.1'],
  email: [
    'email',
    'mail',
    'urn:oid:0.9.2342.19200300.100.1.3',
    'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  ],
  name: [
    'displayName',
    'name',
    'cn',
    'urn:oid:2.16.840.1.113730.3.1.241',
    'http://schemas.microsoft.com/identity/claims/displayname',
  ],
  groups: [
    'groups',
    'memberOf',
    'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups',
    'http://schemas.xmlsoap.org/claims/Group',
  ],
};

/**
 * SAML 2.0 Web SSO as a service provider, with @node-saml/node-saml: SP-initiated login with
 * an AuthnRequest sent by HTTP-Redirect (RelayState = the login's one-time state), the answer
 * POSTed to `/_portico/callback/<id>`. node-saml verifies the XML signature (response or
 * assertion as configured), audience, time conditions and InResponseTo — against this login's
 * own request id, not a shared list. Portico adds what node-saml leaves to the caller:
 * Recipient and Destination = our ACS, the IdP's Issuer, a top-level Success status (node-saml
 * ignores the status once an assertion is present), and assertion IDs remembered until
 * they expire so a captured response cannot be posted again.
 */
export function createSamlProvider(
  def: SamlDefinition,
  ctx: Pick<ProviderContext, 'store' | 'publicUrl'>,
): SamlProvider {
  const replays = createOnceCache(def.id, ctx.store);
  const skewMs = def.acceptedClockSkew !== undefined ? parseDuration(def.acceptedClockSkew) : 30_000;
  const wantAuthnResponseSigned = def.wantAuthnResponseSigned === true;
  // Never both off: an unsigned response would then be accepted.
  const wantAssertionsSigned = def.wantAssertionsSigned !== false || !wantAuthnResponseSigned;
  const attributes = def.attributes ?? {};

  const urls = (origin: string) => {
    const id = encodeURIComponent(def.id);
    const entityId = def.issuer ?? `${origin}/_portico/saml/${id}`;
    return {
      acs: `${origin}/_portico/callback/${id}`,
      entityId,
      audience: def.audience ?? entityId,
      slo: `${origin}/_portico/saml/${id}/slo`,
    };
  };
  const originOf = (url?: string | URL) => {
    const origin = url ? new URL(url).origin : ctx.publicUrl?.origin;
    if (!origin) throw new GatewayError('PORTICO_ERR_IDP', { detail: 'SAML needs publicUrl' });
    return origin;
  };

  /** One node-saml instance per operation: this login's request id and cache, nothing shared. */
  const saml = (origin: string, extra: Partial<SamlConfig> = {}) => {
    const u = urls(origin);
    try {
      return new SAML({
        entryPoint: def.entryPoint,
        callbackUrl: u.acs,
        issuer: u.entityId,
        audience: u.audience,
        idpCert: (Array.isArray(def.idpCert) ? def.idpCert : [def.idpCert]).map(certificate),
        idpIssuer: def.idpIssuer,
        wantAssertionsSigned,
        wantAuthnResponseSigned,
        signatureAlgorithm: def.signatureAlgorithm ?? 'sha256',
        privateKey: def.privateKey ? certificate(def.privateKey) : undefined,
        publicCert: def.cert ? certificate(def.cert) : undefined,
        identifierFormat: def.identifierFormat ?? null,
        disableRequestedAuthnContext: def.disableRequestedAuthnContext === true,
        acceptedClockSkewMs: skewMs,
        maxAssertionAgeMs: def.maxAssertionAge !== undefined ? parseDuration(def.maxAssertionAge) : 0,
        validateInResponseTo: ValidateInResponseTo.always,
        requestIdExpirationPeriodMs: REQUEST_TTL_MS,
        logoutUrl: def.logoutUrl ?? def.entryPoint,
        logoutCallbackUrl: u.slo,
        cacheProvider: NO_CACHE,
        ...extra,
      });
    } catch (err) {
      throw new GatewayError('PORTICO_ERR_IDP', { cause: err });
    }
  };

  const pick = (profile: Record<string, unknown>, configured: string | undefined, fallbacks: string[]) => {
    for (const name of configured ? [configured] : fallbacks) {
      const v = profile[name];
      const first = Array.isArray(v) ? v[0] : v;
      if (typeof first === 'string' && first !== '') return first;
    }
    return undefined;
  };
  const list = (profile: Record<string, unknown>, configured: string | undefined) => {
    for (const name of configured ? [configured] : FALLBACKS.groups) {
      const v = profile[name];
      if (v === undefined) continue;
      return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string' && x !== '');
    }
    return [];
  };

  return {
    id: def.id,
    type: 'saml',
    kind: 'redirect',
    postCallback: true,
    displayName: (lang: Lang) => localised(def.name, lang) ?? def.id,
    async ready() {
      saml(originOf());
    },
    async begin(txn, state, callbackUrl) {
      const id = `_${randomBytes(20).toString('hex')}`;
      const url = await saml(originOf(callbackUrl), { generateUniqueId: () => id }).getAuthorizeUrlAsync(
        state,
        undefined,
        {},
      );
      txn.requestId = id;
      return new URL(url);
    },
    async complete(_req: IncomingMessage, input: CompleteInput): Promise<LoginResult> {
      const { txn } = input;
      const response = input.body?.SAMLResponse;
      if (!txn?.requestId || typeof response !== 'string' || response === '')
        throw new GatewayError('PORTICO_ERR_LOGIN', { detail: EXPIRED });
      const requestId = txn.requestId;
      const origin = originOf(input.callbackUrl);
      const u = urls(origin);
      // InResponseTo is checked against this login's own AuthnRequest, not a shared list of ids.
      const cacheProvider: CacheProvider = {
        saveAsync: async () => null,
        getAsync: async (key) => (key === requestId ? new Date(txn.createdAt).toISOString() : null),
        removeAsync: async (key) => key,
      };
      const refuse = (reason: string, cause?: unknown) =>
        new GatewayError('PORTICO_ERR_LOGIN', { detail: REFUSED, cause: cause ?? new Error(reason) });
      let profile: Profile | null;
      try {
        ({ profile } = await saml(origin, { cacheProvider }).validatePostResponseAsync({
          SAMLResponse: response,
        }));
      } catch (err) {
        throw refuse((err as Error).message, err);
      }
      if (!profile?.nameID) throw refuse('no NameID in the assertion');
      // A failed Response may still carry a validly signed assertion: only Success signs anyone in.
      const status = responseStatus(profile.getSamlResponseXml?.() ?? '');
      if (status !== SUCCESS) throw refuse(`the Response's StatusCode is ${status ?? '(none)'}, not Success`);
      const now = Date.now();
      let facts: ReturnType<typeof checkAssertion>;
      try {
        facts = checkAssertion(profile.getAssertion?.(), { acs: u.acs, requestId, now, skewMs });
      } catch (err) {
        throw refuse((err as Error).message, err);
      }
      const destination = responseDestination(profile.getSamlResponseXml?.() ?? '');
      if (destination !== undefined && destination !== u.acs)
        throw refuse(`Destination ${destination} is not ${u.acs}`);
      if (wantAuthnResponseSigned && destination === undefined)
        throw refuse('a signed response has no Destination');
      if (def.idpIssuer && facts.issuer !== def.idpIssuer)
        throw refuse(`Issuer ${facts.issuer ?? '(none)'} is not ${def.idpIssuer}`);
      // Remembered until it expires anyway (plus the skew it could still be accepted within).
      const ttl = Math.min(facts.expiresAt + skewMs - now, MAX_REPLAY_MEMORY_MS);
      if (!(await replays.first(facts.id, ttl))) throw refuse(`assertion ${facts.id} was already used`);

      const values = { ...((profile.attributes as Record<string, unknown> | undefined) ?? {}) };
      if (profile.email && values.email === undefined) values.email = profile.email;
      const identity: Identity = {
        idp: def.id,
        sub: profile.nameID,
        username: pick(values, attributes.username, FALLBACKS.username) ?? profile.nameID,
        email: pick(values, attributes.email, FALLBACKS.email),
        name: pick(values, attributes.name, FALLBACKS.name),
        groups: [...new Set(list(values, attributes.groups))].sort(),
        claims: {
          ...values,
          nameIdFormat: profile.nameIDFormat,
          ...(profile.sessionIndex ? { sessionIndex: profile.sessionIndex } : {}),
        },
      };
      return { identity, idpSid: profile.sessionIndex };
    },
    async endSessionUrl(session, postLogoutRedirect) {
      if (!def.logoutUrl || !session.identity || session.identity.idp !== def.id) return undefined;
      const claims = session.identity.claims ?? {};
      const after = new URL(postLogoutRedirect);
      const user = {
        issuer: '',
        nameID: session.identity.sub,
        nameIDFormat:
          typeof claims.nameIdFormat === 'string'
            ? claims.nameIdFormat
            : 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
        sessionIndex: typeof claims.sessionIndex === 'string' ? claims.sessionIndex : undefined,
      } satisfies Profile;
      const url = await saml(after.origin).getLogoutUrlAsync(user, after.pathname + after.search, {});
      return new URL(url);
    },
    async logoutRequest(message, origin) {
      const o = originOf(origin);
      const sp = saml(o);
      let facts: LogoutRequestFacts;
      try {
        facts = await verifyLogoutRequest(sp, message, { slo: urls(o).slo, skewMs, replays });
      } catch (err) {
        throw new GatewayError('PORTICO_ERR_BAD_REQUEST', { detail: LOGOUT_REFUSED, cause: err });
      }
      return {
        nameID: facts.nameID,
        sessionIndex: facts.sessionIndex,
        async answer() {
          const request = { ID: facts.id } as Profile;
          return new URL(await sp.getLogoutResponseUrlAsync(request, facts.relayState ?? '', {}, true));
        },
      };
    },
    spMetadata(origin) {
      const o = originOf(origin);
      const xml = saml(o).generateServiceProviderMetadata(null, def.cert ? certificate(def.cert) : undefined);
      // node-saml names only HTTP-POST for single logout; the endpoint takes HTTP-Redirect as well.
      return xml.replace(
        /^([ \t]*)(<SingleLogoutService [^>]*\/>)/m,
        `$1$2\n$1<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${urls(o).slo}"/>`,
      );
    },
  };
}

const NO_CACHE: CacheProvider = {
  saveAsync: async () => null,
  getAsync: async () => null,
  removeAsync: async (key) => key,
};

/** A PEM or bare base64 given inline, or the path of a PEM file. */
function certificate(value: string): string {
  if (value.includes('-----BEGIN') || /^[A-Za-z0-9+/=\s]{64,}$/.test(value)) return value.trim();
  try {
    return readFileSync(value, 'utf8');
  } catch (err) {
    throw new GatewayError('PORTICO_ERR_IDP', { detail: `cannot read ${value}`, cause: err });
  }
}
