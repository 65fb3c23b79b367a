// Which config values are secrets, shared by the admin API's redacted config read and the
// loader's error messages (the core may not import the admin feature).

export const REDACTED = '[redacted]';

/** Keys whose values are secrets wherever they appear (compared without case, "-" and "_"). */
const SECRET_KEY =
  /secret|password|passwd|passphrase|token|apikey|privatekey|signingkey|hash|webhook|dsn|credential|^keys$|^(proxy)?authorization$|^(set)?cookie$|^pushurl$/;
/** `scheme://user:password@host` */
// Up to the authority's last `@`: a password may hold one (`redis://:p@ss@host`), a host never does.
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s/]+@/gi;
/** `?access_token=…`, `&key=…` and friends in URLs. */
const QUERY_SECRET =
  /([?&](?:access_token|token|key|secret|sig|signature|sign|password|api_key|apikey|auth)=)[^&#\s"']+/gi;

export const isSecretKey = (key: string) => SECRET_KEY.test(key.toLowerCase().replace(/[-_]/g, ''));

export function redactUrlSecrets(value: string): string {
  return value.replace(URL_PASSWORD, `$1${REDACTED}@`).replace(QUERY_SECRET, `$1${REDACTED}`);
}
