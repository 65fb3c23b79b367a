import { inflateRawSync } from 'node:zlib';
import type { SAML } from '@node-saml/node-saml';
import { parseStrictXml } from './parseStrictXml.ts';
import type { OnceCache } from './replayCache.ts';

/** A LogoutRequest as it reached the SLO endpoint: the raw query (HTTP-Redirect) or the form (HTTP-POST). */
export type SloMessage =
  | { binding: 'redirect'; rawQuery: string }
  | { binding: 'post'; SAMLRequest: string; RelayState?: string };

/** What a verified LogoutRequest asks: end `nameID`'s sessions (those of `sessionIndex`, if named). */
export type LogoutRequestFacts = {
  id: string;
  nameID: string;
  sessionIndex: string | undefined;
  relayState: string | undefined;
};

/** A LogoutRequest is delivered by the browser within seconds; an older one is a replay. */
const MAX_AGE_MS = 5 * 60_000;
/** RSA with SHA-1 or SHA-2 (xmldsig / xmldsig-more URIs): no MD5, no algorithm the IdP key cannot mean. */
const SIG_ALG =
  /^http:\/\/www\.w3\.org\/(?:2000\/09\/xmldsig#rsa-sha1|2001\/04\/xmldsig-more#rsa-sha(?:256|384|512))$/;

/**
 * Verifies an IdP-initiated LogoutRequest with node-saml (the IdP's signature over the redirect
 * query or the enveloped XML signature, the issuer, NotBefore/NotOnOrAfter), then adds what
 * node-saml leaves to the caller: a signature is required on the Redirect binding too (node-saml
 * accepts an unsigned query), Destination must be our SLO URL (the IdP signs LogoutRequests for
 * every SP it serves), IssueInstant must be recent and the ID is used once. Throws on anything else.
 */
export async function verifyLogoutRequest(
  sp: SAML,
  message: SloMessage,
  expected: { slo: string; skewMs: number; replays: OnceCache; now?: number },
): Promise<LogoutRequestFacts> {
  let xml: string;
  let relayState: string | undefined;
  let verified: Awaited<ReturnType<SAML['validateRedirectAsync']>>;
  if (message.binding === 'redirect') {
    const q = signedQuery(message.rawQuery);
    relayState = q.container.RelayState;
    verified = await sp.validateRedirectAsync(q.container, q.originalQuery);
    xml = inflateRawSync(Buffer.from(q.container.SAMLRequest!, 'base64'), {
      maxOutputLength: 1 << 20,
    }).toString('utf8');
  } else {
    relayState = message.RelayState;
    verified = await sp.validatePostRequestAsync({ SAMLRequest: message.SAMLRequest });
    xml = Buffer.from(message.SAMLRequest, 'base64').toString('utf8');
  }
  const profile = verified.profile;
  if (!profile?.nameID || typeof profile.ID !== 'string')
    throw new Error('not a LogoutRequest with a NameID');

  const root = rootAttributes(xml);
  if (root.Destination !== expected.slo)
    throw new Error(`Destination ${root.Destination ?? '(none)'} is not ${expected.slo}`);
  const now = expected.now ?? Date.now();
  const issued = Date.parse(root.IssueInstant ?? '');
  if (!Number.isFinite(issued)) throw new Error('no IssueInstant');
  if (issued > now + expected.skewMs || issued < now - expected.skewMs - MAX_AGE_MS)
    throw new Error(`IssueInstant ${root.IssueInstant} is too old or in the future`);
  if (root.ID !== profile.ID) throw new Error('the verified request is not the one parsed');
  if (!(await expected.replays.first(`logout:${profile.ID}`, MAX_AGE_MS + 2 * expected.skewMs)))
    throw new Error(`LogoutRequest ${profile.ID} was already used`);
  return {
    id: profile.ID,
    nameID: profile.nameID,
    sessionIndex: typeof profile.sessionIndex === 'string' ? profile.sessionIndex : undefined,
    relayState,
  };
}

/**
 * The Redirect binding's parameters, each exactly once, and the raw query node-saml checks the
 * signature over. node-saml finds the raw `SAMLRequest=`, `RelayState=` and `SigAlg=` by pattern
 * in what it is given: it gets only those three, so nothing else in the URL can be mistaken for one.
 */
function signedQuery(rawQuery: string): { container: Record<string, string>; originalQuery: string } {
  const raw = new Map<string, string>();
  const container: Record<string, string> = {};
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const [[name, value] = ['', '']] = new URLSearchParams(part);
    if (!['SAMLRequest', 'RelayState', 'SigAlg', 'Signature'].includes(name)) continue;
    if (raw.has(name)) throw new Error(`${name} is given twice`);
    raw.set(name, part);
    container[name] = value;
  }
  if (!container.SAMLRequest) throw new Error('no SAMLRequest');
  if (!container.Signature || !container.SigAlg) throw new Error('the LogoutRequest is not signed');
  if (!SIG_ALG.test(container.SigAlg)) throw new Error(`SigAlg ${container.SigAlg} is not accepted`);
  const originalQuery = ['SigAlg', 'RelayState', 'SAMLRequest']
    .map((k) => raw.get(k))
    .filter((p): p is string => p !== undefined)
    .join('&');
  return { container, originalQuery };
}

/** ID, IssueInstant and Destination of the (already verified) LogoutRequest. */
function rootAttributes(xml: string): Record<string, string | undefined> {
  const doc = parseStrictXml(xml);
  const root = doc.documentElement;
  if (root?.localName !== 'LogoutRequest') throw new Error('not a LogoutRequest');
  const attr = (name: string) => (root.hasAttribute(name) ? root.getAttribute(name)! : undefined);
  return { ID: attr('ID'), IssueInstant: attr('IssueInstant'), Destination: attr('Destination') };
}
