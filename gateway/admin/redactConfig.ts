import { isMap, isPair, isScalar, isSeq, type Node, Parser, parseDocument } from 'yaml';
import { protectVariables } from '../config/interpolate.ts';
import { isSecretKey, REDACTED, redactUrlSecrets } from '../config/secretValues.ts';

export { REDACTED, redactUrlSecrets };

/**
 * A comment that holds a key and value of that kind (`# secret: old-value`, an old line commented
 * out): its text goes too. Prose that merely names one (`# the token comes from the env`) stays.
 */
const SECRET_COMMENT =
  /(secret|password|passwd|passphrase|token|api[-_]?key|private[-_]?key|signing[-_]?key|credential|authorization|cookie|push[-_]?url|webhook|hash|dsn)\w*["']?\s*[:=]/i;
/**
 * PEM text of a private key (PKCS#1/#8, EC, encrypted): a secret under any key — `tls.key` of the
 * listener or of a route may hold the PEM itself rather than a file's path.
 */
const PRIVATE_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
/**
 * A header Portico sets (`headers.request.set`, `headers.response.set`) whose name or value says it
 * carries a credential: `X-Upstream-Auth: Basic …`, `X-Access-Key: …`, `X-Api-Token: …`.
 */
const CREDENTIAL_HEADER = /auth|key|token|secret|signature|session|passw|credential|cookie/i;
const CREDENTIAL_VALUE =
  /^\s*(basic|bearer|digest|negotiate|ntlm|token|apikey|aws4-hmac-sha256|hmac|signature)\s/i;
/** A variable's default as shown: whole, with a URL's secrets taken out, or not at all. */
const scrubDefault = (fallback: string): string => {
  if (CREDENTIAL_VALUE.test(fallback) || PRIVATE_PEM.test(fallback)) return REDACTED;
  return redactUrlSecrets(fallback);
};
/** `…headers.<request|response>.set.<Name>`: the path of a header value Portico sets. */
const isSetHeader = (path: readonly string[]) => path.at(-2) === 'set' && path.at(-4) === 'headers';
const isCredentialHeader = (path: readonly string[], value: unknown) =>
  isSetHeader(path) &&
  (CREDENTIAL_HEADER.test(path.at(-1)!) || (typeof value === 'string' && CREDENTIAL_VALUE.test(value)));

/**
 * routes.yaml as written, with every secret value replaced by "[redacted]": the values of keys
 * such as secret, clientSecret, password, secretAccessKey, token, hash, webhook, and passwords
 * or tokens inside URLs; header values that carry credentials (Authorization, Cookie, and a
 * header Portico sets whose name or value says so), private keys given as PEM text, push URLs
 * (their path is the token) and comments that hold such a key and value. The edit is made in the
 * source text, so other comments and the layout stay.
 * Values taken from the environment are not in the source at all: `${NAME}` shows only the
 * variable's name (and under a secret key not even that).
 */
export function redactConfigSource(source: string): string {
  // ${NAME} is swapped for tokens first, as the loader does: inside `{ }` the braces are YAML.
  const { text, variables } = protectVariables(source);
  /**
   * The `${…}` as written; with `scrub`, a default that holds a credential (a URL's password or
   * token, `Bearer …`, a private key) shows as [redacted]: it is written in the file, as a literal
   * value is, and a `config:read` key must not read a Redis password through it.
   */
  const restore = (s: string, scrub: boolean) =>
    s.replace(/__portico_env_\d+__/g, (token) => {
      const v = variables.get(token);
      if (!v) return token;
      if ('literal' in v) return '$${';
      if (v.fallback === undefined) return `\${${v.name}}`;
      const shown = scrub ? scrubDefault(v.fallback) : v.fallback;
      return `\${${v.name}:-${shown}}`;
    });
  /** The value the defaults would make, each default scrubbed; a variable without one is empty. */
  const withDefaults = (s: string) =>
    s.includes('__portico_env_')
      ? s.replace(/__portico_env_\d+__/g, (token) => {
          const v = variables.get(token);
          if (!v) return token;
          if ('literal' in v) return '${';
          return v.fallback === undefined ? '' : scrubDefault(v.fallback);
        })
      : s;
  const doc = parseDocument(text);
  if (doc.errors.length > 0) return `# ${REDACTED}: the source could not be parsed for redaction\n`;
  const edits: { start: number; end: number; text: string }[] = [];
  const walk = (node: unknown, secret: boolean, path: readonly string[]) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : '';
        walk(pair.value, secret || isSecretKey(key), [...path, key]);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) walk(item, secret, path);
    } else if (isScalar(node) && node.range) {
      const [start, end] = node.range;
      if (end <= start || node.value === null) return;
      // Judged with the defaults of its ${…} in place (each already scrubbed on its own):
      // `${SCHEME:-Bearer} ${T:-abc}` is a credential though neither default is one alone.
      const value = typeof node.value === 'string' ? withDefaults(node.value) : node.value;
      if (
        secret ||
        (typeof value === 'string' && PRIVATE_PEM.test(value)) ||
        isCredentialHeader(path, value) ||
        (value !== node.value && typeof value === 'string' && redactUrlSecrets(value) !== value)
      )
        edits.push({ start, end, text: `"${REDACTED}"` });
      else if (typeof node.value === 'string') {
        const scrubbed = redactUrlSecrets(node.value);
        if (scrubbed !== node.value) edits.push({ start, end, text: JSON.stringify(scrubbed) });
      }
    }
  };
  walk((doc as { contents: Node | null }).contents, false, []);
  // Comments, found as the parser finds them (never a `#` inside a quoted value or a block scalar).
  const comment = (n: unknown): void => {
    if (!n || typeof n !== 'object') return;
    if (Array.isArray(n)) {
      for (const x of n) comment(x);
      return;
    }
    const t = n as { type?: string; offset?: number; source?: string };
    if (t.type === 'comment' && typeof t.offset === 'number' && typeof t.source === 'string') {
      // Judged as written, defaults of ${NAME:-…} included (an old line commented out).
      const written = restore(t.source, false);
      if (SECRET_COMMENT.test(written) || redactUrlSecrets(written) !== written)
        edits.push({ start: t.offset, end: t.offset + t.source.length, text: `# ${REDACTED}` });
      return;
    }
    for (const v of Object.values(n)) comment(v);
  };
  for (const token of new Parser().parse(text)) comment(token);
  // A comment can lie inside a value being replaced (`secret: | #note` — the block scalar's header):
  // only the outer edit is made, or the inner one would shift the outer one's offsets.
  const outer: typeof edits = [];
  for (const e of edits.sort((a, b) => a.start - b.start || b.end - a.end))
    if (outer.length === 0 || e.start >= outer[outer.length - 1]!.end) outer.push(e);
  let out = text;
  for (const e of outer.reverse()) {
    // A block scalar's range ends with its line break; keep it.
    const trailing = /\s*$/.exec(out.slice(e.start, e.end))![0];
    out = out.slice(0, e.start) + e.text + trailing + out.slice(e.end);
  }
  return restore(out, true);
}
