import { createHash } from 'node:crypto';
import { loggedOutPage } from '../auth/loginPages.ts';
import { escapeHtml } from '../pages/escapeHtml.ts';
import { pickLang } from '../pages/negotiate.ts';
import type { Pages } from '../pages/pages.ts';
import type { KoaContext } from './types.ts';

const T = {
  'en-US': {
    errorTitle: 'Sign-in to the application failed',
    errorText: 'The application sent a request Portico cannot complete. Go back to it and try again.',
    outTitle: 'Signing out',
    out: 'Signing you out of this site and its applications…',
    ask: 'Sign out of this site and all its applications?',
    yes: 'Sign out',
  },
  'zh-CN': {
    errorTitle: '无法登录该应用',
    errorText: '该应用发来的登录请求无法完成。请返回应用后重试。',
    outTitle: '正在退出',
    out: '正在退出本站点及其应用…',
    ask: '要退出本站点及其所有应用吗？',
    yes: '退出登录',
  },
} as const;

/** The field Portico's own sign-out form adds: its answer, not the library's automatic one. */
export const CONFIRMED_FIELD = 'portico_confirmed';

/**
 * The few pages oidc-provider renders, in Portico's frame and language: an error it cannot send
 * back to the client, the step of RP-initiated logout that must be a form post (submitted by
 * itself when the client named the signed-in user, else a question with a button), and "signed
 * out" when the client gave no post-logout redirect.
 */
export function providerPages(pages: Pages, logoutNamesSession: (ctx: KoaContext) => Promise<boolean>) {
  return {
    async renderError(ctx: KoaContext, out: { error?: string; error_description?: string }): Promise<void> {
      const lang = pickLang(ctx.req);
      const t = T[lang];
      ctx.type = 'html';
      ctx.body = pages.render({
        lang,
        title: t.errorTitle,
        heading: t.errorTitle,
        status: ctx.status,
        bodyHtml: `<p>${t.errorText}</p>
<p class="portico-muted"><code id="portico-oidc-error">${escapeHtml(out.error ?? 'server_error')}</code> ${escapeHtml(out.error_description ?? '')}</p>`,
      });
    },
    async logoutSource(ctx: KoaContext, form: string): Promise<void> {
      const lang = pickLang(ctx.req);
      const t = T[lang];
      // Submitted by itself only when the client that sent the browser here named this very user
      // (a valid id_token_hint for the signed-in account, issued in this Portico session): anyone
      // can link to this endpoint, and a link must not sign a user out of Portico and every
      // application. Otherwise the user decides.
      const oidc = ctx.oidc;
      const asked = oidc?.entities.IdTokenHint?.payload.sub;
      const byClient =
        asked !== undefined && asked === oidc?.session?.accountId && (await logoutNamesSession(ctx));
      const script = "document.getElementById('op.logoutForm').submit()";
      if (byClient) allowInlineScript(ctx, script);
      ctx.type = 'html';
      ctx.body = pages.render({
        lang,
        title: t.outTitle,
        heading: t.outTitle,
        bodyHtml: `<p>${byClient ? t.out : t.ask}</p>
${form.replace('</form>', `<input type="hidden" name="logout" value="yes"/><input type="hidden" name="${CONFIRMED_FIELD}" value="yes"/><button class="portico-button" id="portico-oidc-logout" type="submit">${t.yes}</button></form>`)}${byClient ? `\n<script>${script}</script>` : ''}`,
      });
    },
    async postLogoutSuccessSource(ctx: KoaContext): Promise<void> {
      ctx.type = 'html';
      ctx.body = loggedOutPage(pages, pickLang(ctx.req), '/');
    },
  };
}

/** Portico's CSP forbids inline scripts; this one is allowed by its hash, for this response only. */
function allowInlineScript(ctx: KoaContext, script: string): void {
  const csp = ctx.response.get('content-security-policy');
  if (!csp) return;
  const hash = `'sha256-${createHash('sha256').update(script).digest('base64')}'`;
  const directives = csp.split(';').map((d) => d.trim());
  const i = directives.findIndex((d) => d.startsWith('script-src '));
  if (i === -1) directives.push(`script-src 'self' ${hash}`);
  else directives[i] = `${directives[i]} ${hash}`;
  ctx.set('content-security-policy', directives.filter(Boolean).join(';'));
}
