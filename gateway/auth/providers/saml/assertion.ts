import { parseStrictXml } from './parseStrictXml.ts';

/**
 * Checks node-saml leaves to the caller, made on the assertion node-saml has verified (its
 * xml2js form from `profile.getAssertion()`, never the raw, unsigned response):
 * the bearer SubjectConfirmation of the Web SSO profile (saml-profiles §4.1.4.2) must name our
 * ACS as Recipient, answer our AuthnRequest (InResponseTo) and carry NotOnOrAfter.
 */

type Node = { $?: Record<string, string>; _?: string; [child: string]: unknown };

const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

export type AssertionFacts = {
  id: string;
  issuer: string | undefined;
  /** The latest NotOnOrAfter of the assertion (confirmation and conditions), epoch ms. */
  expiresAt: number;
};

export function checkAssertion(
  parsed: unknown,
  expected: { acs: string; requestId: string; now: number; skewMs: number },
): AssertionFacts {
  const assertion = (parsed as { Assertion?: Node } | undefined)?.Assertion;
  if (!assertion?.$?.ID) throw new Error('the assertion has no ID');
  const subject = children(assertion, 'Subject')[0];
  if (!subject) throw new Error('the assertion has no Subject');
  const confirmations = children(subject, 'SubjectConfirmation')
    .filter((c) => c.$?.Method === BEARER)
    .map((c) => children(c, 'SubjectConfirmationData')[0]?.$ ?? {});
  if (confirmations.length === 0) throw new Error('the assertion has no bearer SubjectConfirmation');
  const valid = confirmations.filter((d) => {
    const notOnOrAfter = Date.parse(d.NotOnOrAfter ?? '');
    const notBefore = d.NotBefore ? Date.parse(d.NotBefore) : undefined;
    return (
      d.Recipient === expected.acs &&
      d.InResponseTo === expected.requestId &&
      Number.isFinite(notOnOrAfter) &&
      expected.now - expected.skewMs < notOnOrAfter &&
      (notBefore === undefined || expected.now + expected.skewMs >= notBefore)
    );
  });
  if (valid.length === 0) {
    const d = confirmations[0]!;
    const why =
      d.Recipient !== expected.acs
        ? `Recipient ${d.Recipient ?? '(none)'} is not ${expected.acs}`
        : d.InResponseTo !== expected.requestId
          ? `InResponseTo ${d.InResponseTo ?? '(none)'} does not answer this request`
          : 'the subject confirmation is expired or has no NotOnOrAfter';
    throw new Error(why);
  }
  const conditions = children(assertion, 'Conditions')[0];
  const ends = [
    ...valid.map((d) => Date.parse(d.NotOnOrAfter!)),
    Date.parse(conditions?.$?.NotOnOrAfter ?? ''),
  ].filter(Number.isFinite);
  const issuerNode = children(assertion, 'Issuer')[0];
  return {
    id: assertion.$.ID,
    issuer: typeof issuerNode === 'object' ? issuerNode._ : undefined,
    expiresAt: Math.max(...ends),
  };
}

const PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';
export const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

/**
 * The top-level StatusCode of a Response (saml-core §3.2.2.2), which node-saml does not look at
 * once an assertion is present. undefined when the document is not a samlp:Response or has none.
 */
export function responseStatus(xml: string): string | undefined {
  let doc: ReturnType<typeof parseStrictXml>;
  try {
    doc = parseStrictXml(xml);
  } catch {
    return undefined;
  }
  const root = doc.documentElement;
  if (root?.localName !== 'Response' || root.namespaceURI !== PROTOCOL) return undefined;
  const code = child(child(root, 'Status'), 'StatusCode');
  return code?.getAttribute('Value') ?? undefined;
}

function child(parent: Element | undefined, localName: string): Element | undefined {
  if (!parent) return undefined;
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    const e = n as Element;
    if (n.nodeType === 1 && e.localName === localName && e.namespaceURI === PROTOCOL) return e;
  }
  return undefined;
}

/** The Destination of the response's root element, when it has one (a best-effort read). */
export function responseDestination(xml: string): string | undefined {
  const root = /<(?:[A-Za-z_][\w.-]*:)?Response\b([^>]*)>/.exec(xml);
  if (!root) return undefined;
  const m = /\sDestination\s*=\s*(?:"([^"]*)"|'([^']*)')/.exec(root[1]!);
  if (!m) return undefined;
  return (m[1] ?? m[2]!)
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'");
}

function children(node: Node, name: string): Node[] {
  const v = node[name];
  return Array.isArray(v) ? (v as Node[]) : [];
}
