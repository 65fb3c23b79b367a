import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { inflateRawSync } from 'node:zlib';
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
  /**
   * Follows the SP's redirect to the IdP as a browser would, signs `user` in, and returns the
   * fields of the auto-posting form the IdP answers with (what the browser posts to the ACS).
   */
  answer(authorizeUrl: string, user: string, variant?: SamlVariant): Promise<PostedAnswer>;
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

  const identityProvider = (key: { key: string; cert: string }) =>
    samlify.IdentityProvider({
      entityID: entityId,
      privateKey: key.key,
      signingCert: key.cert,
      wantAuthnRequestsSigned: options.wantAuthnRequestsSigned === true,
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
    });
    return sp;
  };

  const requests: SamlIdp['requests'] = [];
  const logouts: SamlIdp['logouts'] = [];

  /** The raw `SAMLRequest=…&RelayState=…&SigAlg=…` the redirect-binding signature covers. */
  const octetString = (rawQuery: string) => {
    const raw = new Map(rawQuery.split('&').map((p) => [p.slice(0, p.indexOf('=')), p] as const));
    return ['SAMLRequest', 'RelayState', 'SigAlg']
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
