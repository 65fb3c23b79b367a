/**
 * Header values carry UTF-8 names such as 张三: Node only writes Latin-1, so the UTF-8 bytes are
 * handed over as Latin-1 characters and reach the upstream as the UTF-8 the user typed. Control
 * characters (CR, LF, NUL) are dropped, so an identity value can never split a header.
 */
export function headerValue(value: string): string {
  const clean = value.replace(/[\x00-\x1f\x7f]/g, '');
  return /^[\x20-\x7e]*$/.test(clean) ? clean : Buffer.from(clean, 'utf8').toString('latin1');
}
