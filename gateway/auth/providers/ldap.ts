import type { IncomingMessage } from 'node:http';
import { InvalidCredentialsError } from 'ldapts';
import { parseDuration } from '../../config/duration.ts';
import { GatewayError } from '../../errors.ts';
import { type Lang, pickLang } from '../../pages/negotiate.ts';
import { createLoginThrottle, type LoginAttempt } from '../throttle.ts';
import {
  authenticateAgainstDirectory,
  CredentialsRejected,
  checkDirectory,
  DirectoryUnavailable,
  type LdapDefinition,
} from './ldap/directory.ts';
import { LDAP_TEXT, renderLoginForm } from './ldap/loginForm.ts';
import { localised } from './oidc.ts';
import type { ProviderContext } from './registry.ts';
import type { CompleteInput, LoginProvider, LoginResult } from './types.ts';

export type { LdapDefinition } from './ldap/directory.ts';
export { groupSearchFilter, IN_CHAIN_RULE, userSearchFilter } from './ldap/directory.ts';

const MAX_USERNAME = 256;
/** How long a failed readiness check answers for the directory before it is asked again. */
const READY_HOLD_MS = 5_000;
/** The same after the directory refused the service password: each retry is a failed bind. */
const READY_HOLD_REFUSED_MS = 30_000;
const MAX_PASSWORD = 1024;

/**
 * LDAP and Active Directory with Portico's own form: the posted name and password are checked by
 * a service-account search and a bind as the user found (see ldap/directory.ts). Unknown user,
 * wrong password and ambiguous user share one message; failures are throttled per user name and
 * per client address (Redis when sessions use it, so every replica counts) before the directory
 * is even contacted.
 */
export function createLdapProvider(
  def: LdapDefinition,
  ctx: Pick<ProviderContext, 'store'> & Partial<Pick<ProviderContext, 'throttleStore'>>,
): LoginProvider {
  const throttle = createLoginThrottle({
    store: ctx.throttleStore ?? ctx.store,
    scope: def.id,
    maxPerUser: def.throttle?.maxPerUser,
    maxPerIp: def.throttle?.maxPerIp,
    windowMs: def.throttle?.window !== undefined ? parseDuration(def.throttle.window) : undefined,
  });
  const displayName = (lang: Lang) => localised(def.name, lang) ?? def.id;
  let reachedOnce = false;
  const check: { pending?: Promise<void>; failure?: GatewayError; until: number } = { until: 0 };

  return {
    id: def.id,
    type: 'ldap',
    kind: 'form',
    displayName,
    ready() {
      // Like OIDC discovery: once the directory has answered, a later outage shows on the login
      // form (502) but does not take the gateway out of service for users already signed in.
      if (reachedOnce) return Promise.resolve();
      // /_portico/readyz is public and each check is a connection and a service bind: concurrent
      // probes share one, and a failure holds for a while (longer when the service password was
      // refused, so probes cannot lock the service account out).
      if (check.failure && Date.now() < check.until) return Promise.reject(check.failure);
      check.pending ??= checkDirectory(def)
        .then(
          () => {
            reachedOnce = true;
          },
          (err: unknown) => {
            const refused = err instanceof Error && err.cause instanceof InvalidCredentialsError;
            check.failure = new GatewayError('PORTICO_ERR_IDP', { cause: err });
            check.until = Date.now() + (refused ? READY_HOLD_REFUSED_MS : READY_HOLD_MS);
            throw check.failure;
          },
        )
        .finally(() => {
          check.pending = undefined;
        });
      return check.pending;
    },
    async begin() {
      throw new GatewayError('PORTICO_ERR_METHOD');
    },
    renderForm(lang, form) {
      return renderLoginForm(lang, displayName(lang), form);
    },
    async complete(req: IncomingMessage, input: CompleteInput): Promise<LoginResult> {
      const t = LDAP_TEXT[pickLang(req)];
      const body = input.body ?? {};
      const username = typeof body.username === 'string' ? body.username.trim() : '';
      const password = typeof body.password === 'string' ? body.password : '';
      if (username === '' || password === '')
        throw new GatewayError('PORTICO_ERR_UNAUTHENTICATED', { detail: t.missing });
      // Counted before the directory is asked, and the count's answer decides: parallel guesses
      // each take one of the budget's places (see throttle.ts).
      const attempt = await throttle.attempt(username, input.clientIp, t.tooMany);
      let account: LoginAttempt | undefined;
      // A refusal keeps the attempts counted; the reason stays in the logs (cause), the user sees
      // one message whatever it was.
      const refuse = (reason: string, err?: unknown) =>
        new GatewayError('PORTICO_ERR_UNAUTHENTICATED', {
          detail: t.failed,
          cause: err ?? new Error(reason),
        });
      if (username.length > MAX_USERNAME || password.length > MAX_PASSWORD) throw refuse('too long');
      let found: Awaited<ReturnType<typeof authenticateAgainstDirectory>>;
      try {
        // Counted by the account found as well as by the name typed: directories match `uid` loosely
        // (ａｌｉｃｅ, 𝔞𝔩𝔦𝔠𝔢 and alice are one entry to OpenLDAP and AD), so each spelling would
        // otherwise have a budget of guesses of its own.
        found = await authenticateAgainstDirectory(def, username, password, async (dn) => {
          // Over the account's budget: the answer a wrong password gets — a 429 here would tell
          // that a name no simple folding joins to the typed one (alİce) is an existing account.
          account = await throttle.attempt(accountKey(dn), undefined, t.tooMany).catch((err: unknown) => {
            if (err instanceof GatewayError && err.code === 'PORTICO_ERR_TOO_MANY')
              throw new CredentialsRejected('account over its budget of failed sign-ins');
            throw err;
          });
        });
      } catch (err) {
        if (err instanceof CredentialsRejected) throw refuse(err.message, err);
        // No wrong password was told (the directory could not answer): the attempts are given
        // back, so an outage costs nobody their budget.
        await Promise.all([attempt.withdraw(), account?.withdraw()]).catch(() => undefined);
        if (err instanceof DirectoryUnavailable) throw new GatewayError('PORTICO_ERR_IDP', { cause: err });
        throw err;
      }
      await Promise.all([attempt.succeeded(), account?.succeeded()]);
      const { user, groups } = found;
      return {
        identity: {
          idp: def.id,
          sub: user.uuid ?? user.dn,
          username: user.username ?? username,
          email: user.email,
          name: user.name,
          groups,
          claims: { dn: user.dn },
        },
      };
    },
  };
}

/** The throttle's key for a directory entry (a DN is no user name anyone types). */
function accountKey(dn: string): string {
  return `\u0000dn:${dn}`;
}
