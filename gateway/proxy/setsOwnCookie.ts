/**
 * Whether an upstream's Set-Cookie names one of Portico's own cookies. Such a header is dropped:
 * a proxied product (or a header-injection bug in one) must not plant a session cookie of its
 * choosing, which would sign every product on the domain in as that session's user, nor a login
 * cookie that undoes the sign-in's binding to the browser.
 */
export function setsOwnCookie(value: string, own: readonly string[]): boolean {
  const eq = value.indexOf('=');
  return own.includes((eq === -1 ? value : value.slice(0, eq)).trim());
}
