/**
 * A header name as a CGI-style backend reads it: lower case, and every character other than a
 * letter or a digit as `-`. PHP's built-in server and FPM, lighttpd's CGI and FastCGI, and WSGI
 * servers turn a name into HTTP_X_FORWARDED_USER by mapping such characters to `_`, so a client's
 * `X.Forwarded.User`, `X_Forwarded_User` and `X-Forwarded-User` all reach that backend as the
 * same variable: a name Portico sets or removes is looked for in this form.
 */
export function foldHeaderName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '-');
}

/** Whether a lower-case name could be another spelling of a folded one (it has a character to fold). */
export const needsFolding = (lowerName: string): boolean => /[^a-z0-9-]/.test(lowerName);
