import type { IncomingMessage } from 'node:http';
import { type AllowContext, isAllowed } from '../auth/isAllowed.ts';
import type { RawOidcClient } from '../config/types.ts';
import type { Identity } from '../context.ts';
import type { Account } from './buildProvider.ts';
import { claimsOf } from './claimsOf.ts';
import { CONFIRMED_FIELD } from './providerPages.ts';
import type { SessionBindings } from './sessionBindings.ts';
import { subjectOf } from './subjectOf.ts';
import type { KoaContext } from './types.ts';

type PorticoSession = { id: string; identity: Identity; createdAt: number; expiresAt: number };

/**
 * Where oidc-provider asks about the user, Portico's session answers: the account of a token is
 * the identity its grant was bound to (while that session lasts and the client's `allow` admits
 * it); an authorization request is answered silently only for the Portico session its OP session
 * came from; a code is bound to that session before the redirect leaves; RP-initiated logout ends it.
 */
export function porticoSessionHooks(deps: {
  sessionOf: (req: IncomingMessage) => Promise<PorticoSession | undefined>;
  endSession: (id: string) => Promise<void>;
  client: (id: string) => RawOidcClient | undefined;
  bindings: SessionBindings;
  /** Portico sessions that ended moments ago, refused before the store has caught up. */
  ended: { has(id: string): boolean };
  /** Whether the identity provider of this id is trusted for its users' emails (`trustEmail`). */
  trustsEmail: (idp: string) => boolean;
  /**
   * Whether the Portico session a grant is bound to still stands, read from the store past the
   * cache and judged against the live config (idle expiry, a provider removed, the primary changed).
   */
  sessionStands: (id: string) => Promise<boolean>;
  /** What `allow` rules are judged with (the live config's providers). */
  allowContext: () => AllowContext;
  /** Logouts a client asked for this user, by the xsrf secret of their question (minutes, once). */
  logoutHints: {
    remember(secret: string, sessionId: string): Promise<void>;
    recall(secret: string): Promise<string | undefined>;
  };
}) {
  const { sessionOf, client, bindings } = deps;

  /**
   * The client that sent the browser to RP-initiated logout named the signed-in user of this very
   * Portico session: a validated id_token_hint for that user, issued since the session began. The
   * library accepts hints long expired, and neither a user's `sub` nor the signing key changes, so
   * an ID token of an earlier session (in a log, in the history of a logout URL) must not sign a
   * later one out unasked (RP-Initiated Logout 1.0 §2: the OP must ask when the ID token does not
   * belong to the current session).
   */
  const logoutNamesSession = async (ctx: KoaContext): Promise<boolean> => {
    const hint = ctx.oidc?.entities.IdTokenHint?.payload;
    const session = await sessionOf(ctx.req);
    if (!hint || !session || hint.sub === undefined || hint.sub !== subjectOf(session.identity)) return false;
    return typeof hint.iat === 'number' && hint.iat >= Math.floor(session.createdAt / 1000);
  };

  return {
    logoutNamesSession,

    async findAccount(
      ctx: KoaContext,
      id: string,
      token?: { grantId?: string },
    ): Promise<Account | undefined> {
      let identity: Identity | undefined;
      if (token?.grantId) {
        const bound = await bindings.grant(token.grantId);
        if (!bound || deps.ended.has(bound.porticoSession)) return undefined;
        // A client refreshing in the background, with no browser at Portico, still learns that
        // the session ended: a reload removed its provider, or it went idle.
        if (!(await deps.sessionStands(bound.porticoSession))) return undefined;
        identity = bound.identity;
        // A reload that narrows a client's `allow` takes effect at its next token or userinfo call.
        const clientId = ctx.oidc?.client?.clientId;
        if (clientId && !isAllowed(client(clientId)?.allow, identity, deps.allowContext())) return undefined;
      } else {
        identity = (await sessionOf(ctx.req))?.identity;
      }
      if (!identity || subjectOf(identity) !== id) return undefined;
      const claims = claimsOf(identity, deps.trustsEmail(identity.idp));
      return { accountId: id, claims: async () => claims };
    },

    async needsPorticoLogin(ctx: KoaContext): Promise<boolean> {
      const session = await sessionOf(ctx.req);
      if (!session) return true;
      const sub = subjectOf(session.identity);
      const oidc = ctx.oidc!;
      // Just signed in through the interaction, from this very Portico session.
      if (oidc.result?.login) return oidc.result.login.accountId !== sub;
      const op = oidc.session;
      if (!op?.accountId || op.accountId !== sub) return true;
      return (await bindings.porticoSessionOf(op.uid)) !== session.id;
    },

    async clientRefuses(ctx: KoaContext): Promise<boolean> {
      const session = await sessionOf(ctx.req);
      const clientId = ctx.oidc?.client?.clientId;
      if (!session || !clientId) return false;
      const c = client(clientId);
      return !c || !isAllowed(c.allow, session.identity, deps.allowContext());
    },

    async onCodeIssued(ctx: KoaContext): Promise<void> {
      const oidc = ctx.oidc!;
      const code = oidc.entities.AuthorizationCode!;
      const clientId = oidc.client!.clientId;
      const session = await sessionOf(ctx.req);
      // The checks saw this session a moment ago; a code must never outlive or outgrow it.
      if (!session || subjectOf(session.identity) !== code.accountId)
        throw new Error('the Portico session changed while the authorization was answered');
      const sid = oidc.session?.sidFor(clientId);
      const bound =
        sid !== undefined &&
        (await bindings.bind(session, {
          clientId,
          sid,
          sub: code.accountId,
          grantId: code.grantId,
          uid: oidc.session!.uid,
        }));
      if (!bound) throw new Error('the Portico session has expired');
    },

    /**
     * The question of RP-initiated logout was rendered: when the client named the signed-in user
     * (a validated id_token_hint of this session, see logoutNamesSession) and the browser has no OP session (the library then posts the
     * answer by itself, without Portico's page), that is remembered for the answer by its secret.
     */
    async onLogoutAsked(ctx: KoaContext): Promise<boolean> {
      const oidc = ctx.oidc;
      const secret = oidc?.session?.state?.secret;
      const session = await sessionOf(ctx.req);
      if (!session || !secret) return false;
      if (await logoutNamesSession(ctx)) {
        await deps.logoutHints.remember(secret, session.id);
        return false;
      }
      // No OP session (the library posted its own answer) and nobody named this user: the user is
      // still signed in to Portico, so Portico asks, rather than saying "signed out" while not.
      return !oidc?.session?.accountId;
    },

    /**
     * After RP-initiated logout was confirmed, the Portico session ends too (single logout), but
     * only when the user answered Portico's question or the client named this user: the library
     * answers by itself for a browser without an OP session, and anyone can send a browser there.
     */
    async onLogout(ctx: KoaContext): Promise<void> {
      const session = await sessionOf(ctx.req);
      if (!session) return;
      const oidc = ctx.oidc;
      const secret = typeof oidc?.params?.xsrf === 'string' ? oidc.params.xsrf : undefined;
      const answered = oidc?.body?.[CONFIRMED_FIELD] === 'yes';
      const named = secret !== undefined && (await deps.logoutHints.recall(secret)) === session.id;
      if (answered || named) await deps.endSession(session.id);
    },
  };
}
