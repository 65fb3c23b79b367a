import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import * as samlify from 'samlify';

// The IdP side is test scaffolding: samlify's XSD validation is not what is under test (the SP
// side, node-saml, parses and verifies everything itself).
samlify.setSchemaValidator({ validate: async () => 'skipped' });

export type SamlUser = { nameId: string; uid: string; email: string; name: string; groups: string[] };

/** The directory of the test IdP. */
export const SAML_USERS: Record<string, SamlUser> = {
  alice: {
    nameId: 'alice-7f3a',
    uid: 'alice',
    email: 'alice@example.com',
    name: 'Alice Zhang',
    groups: ['ai-users', 'staff'],
  },
  bob: { nameId: 'bob-1c9e', uid: 'bob', email: 'bob@example.com', name: 'Bob Li', groups: ['staff'] },
};

/**
 * How the IdP answers. Everything but `valid` must be refused by the SP:
 * - `unsigned`: every ds:Signature removed after signing;
 * - `tampered`: a group value changed after signing;
 * - `foreignKey`: signed with a key the SP does not trust;
 * - `expired`: NotOnOrAfter 10 minutes in the past; `notYetValid`: NotBefore 10 minutes ahead;
 * - `wrongAudience`, `wrongRecipient`, `wrongDestination`, `wrongIssuer`, `wrongInResponseTo`;
 * - `failedStatus`: the Response's top-level StatusCode is Responder, yet it carries a valid,
 *   signed assertion (and, with `signResponse`, the IdP signs that failed Response too).
 */
export type SamlVariant =
  | 'valid'
  | 'unsigned'
  | 'tampered'
  | 'foreignKey'
  | 'expired'
  | 'notYetValid'
  | 'wrongAudience'
  | 'wrongRecipient'
  | 'wrongDestination'
  | 'wrongIssuer'
  | 'wrongInResponseTo'
  | 'failedStatus';

export type PostedAnswer = { action: string; SAMLResponse: string; RelayState: string; xml: string };

/**
 * How the IdP sends an IdP-initiated LogoutRequest. Everything but `valid` must be refused by the SP:
 * - `unsigned`: Signature and SigAlg left out of the redirect (the POST binding: ds:Signature removed);
 * - `foreignKey`: signed with a key the SP does not trust;
 * - `tampered`: the signed request swapped for another one (bob's NameID), signature kept;
 * - `wrongIssuer`, `wrongDestination` (another SP's SLO URL);
 * - `expired`: issued 20 minutes ago, NotOnOrAfter 10 minutes in the past; `stale`: issued 20
 *   minutes ago, with no NotOnOrAfter.
 */
export type LogoutVariant =
  | 'valid'
  | 'unsigned'
  | 'foreignKey'
  | 'tampered'
  | 'wrongIssuer'
  | 'wrongDestination'
  | 'expired'
  | 'stale';

/** An IdP-initiated LogoutRequest as the browser carries it to the SP: a URL, or a form to post. */
export type IdpLogoutRequest = { id: string; xml: string } & (
  | { binding: 'redirect'; url: string }
  | { binding: 'post'; action: string; SAMLRequest: string; RelayState: string }
);

export type SamlIdp = {
  url: string;
  entityId: string;
  ssoUrl: string;
  sloUrl: string;
  /** The IdP's signing certificate (PEM) and its file. */
  certPem: string;
  certFile: string;
  /** AuthnRequests received (decoded XML), newest last. */
  requests: { xml: string; id: string; signed: boolean }[];
  /** LogoutRequests received. */
  logouts: { xml: string; nameId: string | undefined; relayState: string | undefined }[];
  /** The sessions the IdP started (one per signed-in answer), newest last. */
  issued: { user: string; nameId: string; sessionIndex: string }[];
  /** LogoutResponses received (HTTP-Redirect), signature checked when signed. */
  logoutResponses: {
    xml: string;
    inResponseTo: string | undefined;
    status: string | undefined;
    relayState: string | undefined;
    signed: boolean;
  }[];
  /**
   * Follows the SP's redirect to the IdP as a browser would, signs `user` in, and returns the
   * fields of the auto-posting form the IdP answers with (what the browser posts to the ACS).
   */
  answer(authorizeUrl: string, user: string, variant?: SamlVariant): Promise<PostedAnswer>;
  /**
   * The user signed out at the IdP: a LogoutRequest for `user`, naming the last session the IdP
   * started for them (or `sessionIndex`; `null` names none), signed as the SP's metadata asks.
   */
  logoutRequest(
    user: string,
    options?: {
      sessionIndex?: string | null;
      variant?: LogoutVariant;
      binding?: 'redirect' | 'post';
      relayState?: string;
    },
  ): Promise<IdpLogoutRequest>;
};

export type SamlIdpOptions = {
  /** The SP's metadata URL (fetched on the first request, as an IdP admin would import it). */
  spMetadataUrl: string;
  /** Sign the whole Response as well as (or, if the SP does not want signed assertions, instead of) the assertion. */
  signResponse?: boolean;
  /** Refuse AuthnRequests without a valid redirect-binding signature from the SP's metadata key. */
  wantAuthnRequestsSigned?: boolean;
};

/** A key pair made with openssl, as an IdP administrator would. */
export function makeSigningKey(dir: string, name: string): { key: string; cert: string; certFile: string } {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=Portico test ${name}`,
    ],
    { cwd: dir, stdio: 'pipe', input: '' },
  );
  return {
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
    cert: readFileSync(join(dir, `${name}.pem`), 'utf8'),
    certFile: join(dir, `${name}.pem`),
  };
}

/** RSA key generation is slow: one IdP key (and one foreign key) per test process. */
let keyDir: string | undefined;
const processKeys = new Map<string, ReturnType<typeof makeSigningKey>>();
function processKey(name: string): ReturnType<typeof makeSigningKey> {
  let k = processKeys.get(name);
  if (!k) {
    if (!keyDir) {
      const dir = mkdtempSync(join(tmpdir(), 'portico-saml-idp-'));
      keyDir = dir;
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    }
    k = makeSigningKey(keyDir, name);
    processKeys.set(name, k);
  }
  return k;
}

/**
 * A SAML 2.0 IdP running in the test: samlify in the IdP role with its own openssl key. It
 * parses the AuthnRequest from the HTTP-Redirect binding (verifying its signature when asked)
 * and answers with a signed Response for the HTTP-POST binding, or a deliberately broken one.
 */
export async function startSamlIdp(t: Pick<TestContext, 'after'>, options: SamlIdpOptions): Promise<SamlIdp> {
  const keys = processKey('idp');

  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const entityId = `${url}/metadata`;

  const identityProvider = (key: { key: string; cert: string }, wantLogoutResponseSigned = false) =>
    samlify.IdentityProvider({
      entityID: entityId,
      privateKey: key.key,
      signingCert: key.cert,
      wantAuthnRequestsSigned: options.wantAuthnRequestsSigned === true,
      wantLogoutResponseSigned,
      nameIDFormat: ['urn:oasis:names:tc:SAML:2.0:nameid-format:persistent'],
      singleSignOnService: [
        { Binding: samlify.Constants.namespace.binding.redirect, Location: `${url}/sso` },
      ],
      singleLogoutService: [
        { Binding: samlify.Constants.namespace.binding.redirect, Location: `${url}/slo` },
      ],
    });
  const idp = identityProvider(keys);
  let sp: ReturnType<typeof samlify.ServiceProvider> | undefined;
  const serviceProvider = async () => {
    if (sp) return sp;
    const res = await fetch(options.spMetadataUrl);
    if (!res.ok) throw new Error(`SP metadata: HTTP ${res.status}`);
    sp = samlify.ServiceProvider({
      metadata: await res.text(),
      wantMessageSigned: options.signResponse === true,
      wantLogoutRequestSigned: true,
    });
    return sp;
  };

  const requests: SamlIdp['requests'] = [];
  const logouts: SamlIdp['logouts'] = [];
  const issued: SamlIdp['issued'] = [];
  const logoutResponses: SamlIdp['logoutResponses'] = [];

  /** The raw `SAMLRequest=…&RelayState=…&SigAlg=…` (or SAMLResponse) the redirect-binding signature covers. */
  const octetString = (rawQuery: string, message = 'SAMLRequest') => {
    const raw = new Map(rawQuery.split('&').map((p) => [p.slice(0, p.indexOf('=')), p] as const));
    return [message, 'RelayState', 'SigAlg']
      .map((k) => raw.get(k))
      .filter(Boolean)
      .join('&');
  };

  async function loginResponse(req: URL): Promise<PostedAnswer> {
    const target = await serviceProvider();
    const query = Object.fromEntries(req.searchParams);
    const parsed = await idp.parseLoginRequest(target, 'redirect', {
      query,
      octetString: octetString(req.search.slice(1)),
    });
    const requestId = parsed.extract.request?.id as string;
    requests.push({
      xml: inflateRawSync(Buffer.from(query.SAMLRequest!, 'base64')).toString('utf8'),
      id: requestId,
      signed: typeof query.Signature === 'string',
    });
    const user = SAML_USERS[query.login ?? ''];
    if (!user) throw new Error(`no such test user: ${query.login}`);
    const variant = (query.variant ?? 'valid') as SamlVariant;
    const acs = target.entityMeta.getAssertionConsumerService('post') as string;
    const spEntityId = target.entityMeta.getEntityID();
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const start = variant === 'expired' ? now - 20 * 60_000 : now;
    const end = variant === 'expired' ? now - 10 * 60_000 : now + 5 * 60_000;
    const sessionIndex = `_session-${randomBytes(8).toString('hex')}`;
    if (variant === 'valid') issued.push({ user: query.login!, nameId: user.nameId, sessionIndex });
    const tags: Record<string, string> = {
      ID: `_${randomBytes(20).toString('hex')}`,
      AssertionID: `_${randomBytes(20).toString('hex')}`,
      Destination: variant === 'wrongDestination' ? 'https://elsewhere.example/acs' : acs,
      Audience: variant === 'wrongAudience' ? 'https://another-sp.example/saml' : spEntityId,
      SubjectRecipient: variant === 'wrongRecipient' ? 'https://elsewhere.example/acs' : acs,
      Issuer: variant === 'wrongIssuer' ? 'https://rogue-idp.example/metadata' : entityId,
      IssueInstant: iso(start),
      StatusCode:
        variant === 'failedStatus'
          ? samlify.Constants.StatusCode.Responder
          : samlify.Constants.StatusCode.Success,
      ConditionsNotBefore: iso(variant === 'notYetValid' ? now + 10 * 60_000 : start),
      ConditionsNotOnOrAfter: iso(end),
      SubjectConfirmationDataNotOnOrAfter: iso(end),
      NameIDFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
      NameID: user.nameId,
      InResponseTo: variant === 'wrongInResponseTo' ? `_${randomBytes(20).toString('hex')}` : requestId,
    };
    const authn = `<saml:AuthnStatement AuthnInstant="${iso(start)}" SessionIndex="${sessionIndex}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`;
    const attribute = (name: string, values: string[]) =>
      `<saml:Attribute Name="${name}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${values
        .map((v) => `<saml:AttributeValue xsi:type="xs:string">${escapeXml(v)}</saml:AttributeValue>`)
        .join('')}</saml:Attribute>`;
    const attributes = `<saml:AttributeStatement>${attribute('uid', [user.uid])}${attribute('mail', [user.email])}${attribute('displayName', [user.name])}${attribute('memberOf', user.groups)}</saml:AttributeStatement>`;
    const template = samlify.SamlLib.defaultLoginResponseTemplate.context
      .replace('{AuthnStatement}', authn)
      .replace('{AttributeStatement}', attributes);
    const signer = variant === 'foreignKey' ? identityProvider(processKey('foreign')) : idp;
    const result = await signer.createLoginResponse(
      target,
      { ...parsed },
      'post',
      {},
      {
        relayState: query.RelayState,
        customTagReplacement: () => ({
          id: tags.ID!,
          context: samlify.SamlLib.replaceTagsByValue(template, tags),
        }),
      },
    );
    let xml = Buffer.from(result.context, 'base64').toString('utf8');
    if (variant === 'unsigned') xml = xml.replace(/<ds:Signature\b[\s\S]*?<\/ds:Signature>/g, '');
    if (variant === 'tampered') {
      const before = xml;
      xml = xml.replace('>staff</saml:AttributeValue>', '>platform-admins</saml:AttributeValue>');
      if (xml === before) throw new Error('nothing to tamper with');
    }
    return {
      action: acs,
      SAMLResponse: Buffer.from(xml, 'utf8').toString('base64'),
      RelayState: query.RelayState ?? '',
      xml,
    };
  }

  async function logout(req: URL, res: ServerResponse) {
    const target = await serviceProvider();
    const query = Object.fromEntries(req.searchParams);
    if (query.SAMLResponse !== undefined) return logoutResponse(req, res);
    const xml = inflateRawSync(Buffer.from(query.SAMLRequest!, 'base64')).toString('utf8');
    const parsed = await idp.parseLogoutRequest(target, 'redirect', {
      query,
      octetString: octetString(req.search.slice(1)),
    });
    logouts.push({ xml, nameId: parsed.extract.nameID as string | undefined, relayState: query.RelayState });
    const slo = /<SingleLogoutService[^>]*Location="([^"]+)"/.exec(target.entityMeta.xmlString ?? '')?.[1];
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      `<!doctype html><p>Signed out.</p><form method="post" action="${escapeXml(slo ?? '')}"><input type="hidden" name="RelayState" value="${escapeXml(query.RelayState ?? '')}"></form>`,
    );
  }

  /** The SP's answer to an IdP-initiated LogoutRequest (its signature checked when it has one). */
  async function logoutResponse(req: URL, res: ServerResponse) {
    const query = Object.fromEntries(req.searchParams);
    const signed = typeof query.Signature === 'string';
    const xml = inflateRawSync(Buffer.from(query.SAMLResponse!, 'base64')).toString('utf8');
    await identityProvider(keys, signed).parseLogoutResponse(await serviceProvider(), 'redirect', {
      query,
      octetString: octetString(req.search.slice(1), 'SAMLResponse'),
    });
    logoutResponses.push({
      xml,
      inResponseTo: /\sInResponseTo="([^"]*)"/.exec(xml)?.[1],
      status: /<samlp:StatusCode Value="([^"]*)"/.exec(xml)?.[1],
      relayState: query.RelayState,
      signed,
    });
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><p>Signed out everywhere.</p>');
  }

  async function logoutRequest(
    userName: string,
    o: Parameters<SamlIdp['logoutRequest']>[1] = {},
  ): Promise<IdpLogoutRequest> {
    const target = await serviceProvider();
    const user = SAML_USERS[userName];
    if (!user) throw new Error(`no such test user: ${userName}`);
    const variant = o.variant ?? 'valid';
    const binding = o.binding ?? 'redirect';
    const sessionIndex =
      o.sessionIndex === null
        ? undefined
        : (o.sessionIndex ?? issued.findLast((i) => i.user === userName)?.sessionIndex);
    const slo = target.entityMeta.getSingleLogoutService(binding) as string;
    const now = Date.now();
    const id = `_${randomBytes(20).toString('hex')}`;
    const tags: Record<string, string | undefined> = {
      ID: id,
      Destination: variant === 'wrongDestination' ? 'https://another-sp.example/saml/slo' : slo,
      Issuer: variant === 'wrongIssuer' ? 'https://rogue-idp.example/metadata' : entityId,
      IssueInstant: new Date(
        variant === 'expired' || variant === 'stale' ? now - 20 * 60_000 : now,
      ).toISOString(),
      NameIDFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
      NameID: user.nameId,
      SessionIndex: sessionIndex,
    };
    const build = (t: Record<string, string | undefined>) => {
      let template = samlify.SamlLib.defaultLogoutRequestTemplate.context;
      if (t.SessionIndex === undefined)
        template = template.replace('<samlp:SessionIndex>{SessionIndex}</samlp:SessionIndex>', '');
      if (variant === 'expired')
        template = template.replace(
          'IssueInstant="{IssueInstant}"',
          `IssueInstant="{IssueInstant}" NotOnOrAfter="${new Date(now - 10 * 60_000).toISOString()}"`,
        );
      return samlify.SamlLib.replaceTagsByValue(template, t as Record<string, string>);
    };
    const signer = variant === 'foreignKey' ? identityProvider(processKey('foreign')) : idp;
    const created = signer.createLogoutRequest(
      target,
      binding,
      { logoutNameID: user.nameId, sessionIndex },
      { relayState: o.relayState, customTagReplacement: () => ({ id, context: build(tags) }) },
    ) as { context: string; relayState?: string; entityEndpoint?: string };
    if (binding === 'post') {
      let xml = Buffer.from(created.context, 'base64').toString('utf8');
      if (variant === 'unsigned') xml = xml.replace(/<ds:Signature\b[\s\S]*?<\/ds:Signature>/g, '');
      if (variant === 'tampered') xml = xml.replace(user.nameId, SAML_USERS.bob!.nameId);
      return {
        id,
        xml,
        binding,
        action: slo,
        SAMLRequest: Buffer.from(xml, 'utf8').toString('base64'),
        RelayState: o.relayState ?? '',
      };
    }
    const url = new URL(created.context);
    if (variant === 'unsigned') {
      url.searchParams.delete('Signature');
      url.searchParams.delete('SigAlg');
    }
    if (variant === 'tampered') {
      const other = build({ ...tags, NameID: SAML_USERS.bob!.nameId });
      url.searchParams.set('SAMLRequest', deflateRawSync(Buffer.from(other, 'utf8')).toString('base64'));
    }
    const xml = inflateRawSync(Buffer.from(url.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
    return { id, xml, binding, url: url.href };
  }

  server.on('request', async (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', url);
    try {
      if (u.pathname === '/sso') {
        const a = await loginResponse(u);
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(
          `<!doctype html><form method="post" action="${escapeXml(a.action)}"><input type="hidden" name="SAMLResponse" value="${a.SAMLResponse}"><input type="hidden" name="RelayState" value="${escapeXml(a.RelayState)}"><noscript><button type="submit">Continue</button></noscript></form><script>document.forms[0].submit()</script>`,
        );
        return;
      }
      if (u.pathname === '/slo') return await logout(u, res);
      res.writeHead(404).end();
    } catch (err) {
      if (process.env.SAML_IDP_DEBUG) console.error(err);
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String((err as Error).message ?? err));
    }
  });

  return {
    url,
    entityId,
    ssoUrl: `${url}/sso`,
    sloUrl: `${url}/slo`,
    certPem: keys.cert,
    certFile: keys.certFile,
    requests,
    logouts,
    issued,
    logoutResponses,
    logoutRequest,
    async answer(authorizeUrl, user, variant = 'valid') {
      const u = new URL(authorizeUrl);
      if (`${u.origin}${u.pathname}` !== `${url}/sso`) throw new Error(`not this IdP: ${authorizeUrl}`);
      // The user signs in at the IdP (who and how it answers are this test IdP's choices).
      const res = await fetch(`${authorizeUrl}&login=${encodeURIComponent(user)}&variant=${variant}`);
      const html = await res.text();
      if (res.status !== 200) throw new Error(`IdP refused the AuthnRequest: ${html}`);
      const field = (name: string) =>
        unescapeXml(new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '');
      const action = unescapeXml(/action="([^"]*)"/.exec(html)?.[1] ?? '');
      const SAMLResponse = field('SAMLResponse');
      return {
        action,
        SAMLResponse,
        RelayState: field('RelayState'),
        xml: Buffer.from(SAMLResponse, 'base64').toString('utf8'),
      };
    },
  };
}

function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}

function unescapeXml(s: string): string {
  return s.replace(
    /&(amp|lt|gt|quot|apos);/g,
    (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e]!,
  );
}
