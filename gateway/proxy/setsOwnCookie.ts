/**
 * Whether an upstream's Set-Cookie names one of Portico's own cookies. Such a header is dropped:
 * a proxied product (or a header-injection bug in one) must not plant a session cookie of its
 * choosing, which would sign every product on the domain in as that session's user, nor a login
 * cookie that undoes the sign-in's binding to the browser.
 */
export function setsOwnCookie(value: string, own: readonly string[]): boolean {
  const pair = value.split(';', 1)[0]!;
  const eq = pair.indexOf('=');
  if (own.includes((eq === -1 ? pair : pair.slice(0, eq)).trim())) return true;
  // A cookie without a name (`=portico_session=x`) is sent back as its value alone: judged by that.
  return eq !== -1 && pair.slice(0, eq).trim() === '' && setsOwnCookie(pair.slice(eq + 1), own);
}
