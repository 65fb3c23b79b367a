import { DOMParser } from '@xmldom/xmldom';

/**
 * An XML document parsed with every error thrown (xmldom only reports them by default, and goes
 * on with what it could read): a SAML message that is not well-formed is refused, never half-read.
 */
export function parseStrictXml(xml: string): ReturnType<DOMParser['parseFromString']> {
  const fail = (msg: string) => {
    throw new Error(msg);
  };
  return new DOMParser({
    errorHandler: { warning: () => {}, error: fail, fatalError: fail },
  }).parseFromString(xml, 'text/xml');
}
