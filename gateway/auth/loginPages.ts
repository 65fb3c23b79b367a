import type { LoginProvider } from './providers/types.ts';
import { escapeHtml } from '../pages/escapeHtml.ts';
import type { Lang } from '../pages/negotiate.ts';
import type { Pages } from '../pages/pages.ts';

const T = {
  'en-US': {
    chooseTitle: 'Sign in',
    choose: 'Choose how to sign in.',
    with: 'Continue with',
    outTitle: 'Signed out',
    out: 'You have signed out.',
    again: 'Sign in again',
    confirmTitle: 'Sign out?',
    confirm: 'You will be signed out of every product on this site.',
    yes: 'Sign out',
    cancel: 'Cancel',
    none: 'No sign-in method is configured.',
  },
  'zh-CN': {
    chooseTitle: '登录',
    choose: '请选择登录方式。',
    with: '使用',
    outTitle: '已退出',
    out: '您已退出登录。',
    again: '重新登录',
    confirmTitle: '退出登录？',
    confirm: '您将退出本站点的所有产品。',
    yes: '退出登录',
    cancel: '取消',
    none: '尚未配置登录方式。',
  },
} as const;

export function chooserPage(
  pages: Pages,
  lang: Lang,
  providers: LoginProvider[],
  rd: string,
  brandTitle?: string,
  brandText?: string,
  /** brand.yaml `login.help`, already sanitised. */
  helpHtml = '',
): string {
  const t = T[lang];
  const q = rd === '/' ? '' : `?rd=${encodeURIComponent(rd)}`;
  const buttons = providers
    .map(
      (p) =>
        `<a class="portico-button" id="portico-login-${escapeHtml(p.id)}" href="/_portico/login/${encodeURIComponent(p.id)}${q}">${t.with} ${escapeHtml(p.displayName(lang))}</a>`,
    )
    .join('\n');
  return pages.render({
    lang,
    title: brandTitle ?? t.chooseTitle,
    heading: brandTitle ?? t.chooseTitle,
    bodyHtml: `<p>${escapeHtml(brandText ?? t.choose)}</p>\n<nav aria-label="${t.chooseTitle}">${buttons || `<p>${t.none}</p>`}</nav>${loginHelp(helpHtml)}`,
  });
}

/** The brand's sign-in help (who to ask, where to reset a password) under a sign-in page's controls. */
export function loginHelp(helpHtml: string): string {
  return helpHtml ? `\n<p class="portico-muted" id="portico-login-help">${helpHtml}</p>` : '';
}

export function loggedOutPage(pages: Pages, lang: Lang, rd: string): string {
  const t = T[lang];
  return pages.render({
    lang,
    title: t.outTitle,
    heading: t.outTitle,
    bodyHtml: `<p>${t.out}</p><a class="portico-button" href="/_portico/login?rd=${encodeURIComponent(rd)}">${t.again}</a>`,
  });
}

export function logoutConfirmPage(pages: Pages, lang: Lang, rd: string, csrf: string): string {
  const t = T[lang];
  return pages.render({
    lang,
    title: t.confirmTitle,
    heading: t.confirmTitle,
    bodyHtml: `<p>${t.confirm}</p>
<form method="post" action="/_portico/logout"><input type="hidden" name="rd" value="${escapeHtml(rd)}"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<button class="portico-button" id="portico-logout" type="submit">${t.yes}</button></form>
<a class="portico-button secondary" href="${escapeHtml(rd)}">${t.cancel}</a>`,
  });
}
