import { GatewayError } from '../errors.ts';

// A dot segment, raw or percent-encoded (`.`, `%2e`, any case), between slashes (raw or `%2f`)
// or at the end: a backend that decodes `%2f` would otherwise resolve `/dce5/..%2fadmin`.
const DOT_SEGMENT = /(?:^|\/|%2f)(?:\.|%2e){1,2}(?:\/|%2f|$)/i;
// Backslashes, encoded backslashes, NUL and other control characters: servers behind us disagree on them.
const AMBIGUOUS = /\\|%5c|%00|[\x00-\x1f\x7f]/i;

/**
 * Splits the request target into path and query and refuses paths that a backend could resolve
 * to a different route than the one Portico matched (dot segments in any encoding, backslashes).
 * Consecutive slashes are merged as nginx does (`merge_slashes on`), for matching and forwarding
 * alike, so what decides the route is exactly what the upstream receives.
 */
export function splitTarget(url: string, maxLength: number): { path: string; query: string } {
  if (url.length > maxLength) throw new GatewayError('PORTICO_ERR_BAD_PATH', { detail: 'URL too long' });
  if (url.charCodeAt(0) !== 47 /* / */) throw new GatewayError('PORTICO_ERR_BAD_PATH');
  // A fragment is never sent by browsers; a raw one is dropped with everything after it.
  const h = url.indexOf('#');
  if (h !== -1) url = url.slice(0, h);
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q);
  if (path.includes('//')) path = path.replace(/\/{2,}/g, '/');
  if (DOT_SEGMENT.test(path) || AMBIGUOUS.test(path)) throw new GatewayError('PORTICO_ERR_BAD_PATH');
  return { path, query };
}

/**
 * The path as a lenient backend would read it: `;params` dropped (raw or encoded), percent-escapes decoded (invalid
 * or overlong UTF-8 refused), backslashes as slashes, slashes merged, dot segments resolved.
 * `undefined` means no backend could read it consistently. Paths with nothing to decode come back
 * unchanged without any work.
 */
export function backendView(path: string, lenient = false): string | undefined {
  if (!/[%;]/.test(path)) return path;
  let decoded: string;
  const stripped = path.replace(/;[^/]*/g, '');
  try {
    // Lenient: a `%` that starts no escape (`50%off.png` once decoded) is a literal one, as
    // backends leave it; every real escape is still decoded, and invalid UTF-8 still refused.
    decoded = decodeURIComponent(lenient ? stripped.replace(/%(?![0-9A-Fa-f]{2})/g, '%25') : stripped);
  } catch {
    return undefined;
  }
  if (/[\x00-\x1f\x7f]/.test(decoded)) return undefined;
  return resolveSegments(decoded);
}

/**
 * The once-decoded view (backendView) as a backend that decodes it a second time reads it
 * (`%252e%252e` is `..` to it), for choosing a route. Never fails: each escape left is one byte,
 * and a byte beyond ASCII is dropped, as the most lenient decoders do with invalid UTF-8, so a
 * run with such a byte beside it (`%25ff`) cannot hide a `../` from the comparison.
 */
export function twiceDecodedView(view: string): string {
  if (!/[%;]/.test(view)) return view;
  const decoded = view.replace(/;[^/]*/g, '').replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const byte = Number.parseInt(hex, 16);
    return byte < 0x80 ? String.fromCharCode(byte) : '';
  });
  return resolveSegments(decoded);
}

/** `;params` dropped, backslashes as slashes, dot segments resolved, slashes merged. */
function resolveSegments(decoded: string): string {
  // An encoded `;` too: a proxy in front that decodes the path (nginx's $uri, forward-auth) sends
  // the backend a real one.
  if (decoded.includes(';')) decoded = decoded.replace(/;[^/]*/g, '');
  const out: string[] = [];
  for (const segment of decoded.replace(/\\/g, '/').split('/')) {
    if (segment === '..') out.pop();
    else if (segment !== '.') out.push(segment);
  }
  const joined = out.join('/').replace(/\/{2,}/g, '/');
  return joined.startsWith('/') ? joined : `/${joined}`;
}

/**
 * A segment that ends in a dot or a space, or names an NTFS stream with its type (`::$DATA`,
 * `:$I30:$INDEX_ALLOCATION`): Windows reads it otherwise. A colon alone is left as it is:
 * Kubernetes (`pods/name:8080/proxy`) and Google-style custom methods (`/v1/books:batchGet`) put
 * colons in paths, and a named stream without a type is another file's content, not a way to
 * the folder or file itself.
 */
const WINDOWS_TRIMMED = /[. ](?:\/|$)|:[^/:]*:\$[a-z0-9_]+(?:\/|$)/i;
/** `name:stream:$TYPE` (stream name possibly empty): the part Windows opens is `name`. */
const NTFS_STREAM = /^([^:]*):[^:]*:\$[a-z0-9_]+$/i;

/**
 * A decoded view (backendView) as a Windows backend (IIS, http.sys, Kestrel on NTFS) reads it:
 * each segment without an NTFS stream suffix (`admin::$INDEX_ALLOCATION`, `admin::$DATA`) and
 * without trailing dots and spaces (`admin.`, `admin%20`), so `/dce5/admin./x` is `/dce5/admin/x`
 * to it. A segment left as dots only (`...`, `..%20`, `..::$DATA`) may be dropped or read as `..`
 * by it: both readings are given then. The view itself when Windows reads nothing otherwise. Case
 * is left as it is (the caller folds it).
 */
export function windowsReadings(view: string): readonly string[] {
  if (!WINDOWS_TRIMMED.test(view)) return [view];
  const dropped: string[] = [];
  const parent: string[] = [];
  let dotsOnly = false;
  for (const segment of view.split('/')) {
    if (segment === '') {
      dropped.push(segment);
      parent.push(segment);
      continue;
    }
    const stream = NTFS_STREAM.exec(segment);
    const name = stream ? stream[1]! : segment;
    let end = name.length;
    while (end > 0 && (name.charCodeAt(end - 1) === 46 /* . */ || name.charCodeAt(end - 1) === 32)) end--;
    const trimmed = name.slice(0, end);
    if (trimmed === '' && name.includes('.')) {
      dotsOnly = true;
      dropped.push('');
      if (parent.length > 1) parent.pop();
      continue;
    }
    // Spaces only or a stream of the folder itself: nothing left of the segment.
    dropped.push(trimmed);
    parent.push(trimmed);
  }
  const join = (out: string[]) => {
    const joined = out.join('/').replace(/\/{2,}/g, '/');
    return joined.startsWith('/') ? joined : `/${joined}`;
  };
  return dotsOnly ? [join(dropped), join(parent)] : [join(dropped)];
}
