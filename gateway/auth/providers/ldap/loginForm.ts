import { pageBrand } from '../../../pages/brandSource.ts';
import { escapeHtml } from '../../../pages/escapeHtml.ts';
import { loginHelp } from '../../loginPages.ts';
import type { Lang } from '../../../pages/negotiate.ts';
import { renderPage } from '../../../pages/renderPage.ts';

export const LDAP_TEXT = {
  'en-US': {
    title: 'Sign in',
    intro: 'Sign in with your {name} account.',
    username: 'User name',
    password: 'Password',
    submit: 'Sign in',
    /** One message for unknown user, wrong password and ambiguous user: no enumeration. */
    failed: 'The user name or password is incorrect.',
    missing: 'Enter your user name and password.',
    tooMany: 'Too many failed sign-in attempts. Wait a few minutes and try again.',
  },
  'zh-CN': {
    title: '登录',
    intro: '请使用您的 {name} 账号登录。',
    username: '用户名',
    password: '密码',
    submit: '登录',
    failed: '用户名或密码错误。',
    missing: '请输入用户名和密码。',
    tooMany: '登录失败次数过多，请稍等几分钟后再试。',
  },
} as const;

export type LoginFormInput = { action: string; csrf: string; rd: string; error?: string; username?: string };

/**
 * Portico's own sign-in form for directory logins: labelled fields with the autocomplete hints
 * password managers use, the CSRF token and return path as hidden fields, and an error region
 * (role=alert) that screen readers announce. No script: the page CSP forbids it.
 */
export function renderLoginForm(lang: Lang, displayName: string, form: LoginFormInput): string {
  const t = LDAP_TEXT[lang];
  const error = form.error ?? '';
  const invalid = error ? ' aria-invalid="true" aria-describedby="portico-login-error"' : '';
  return renderPage({
    lang,
    title: t.title,
    heading: t.title,
    bodyHtml: `<p>${escapeHtml(t.intro.replace('{name}', displayName))}</p>
<form class="portico-login-form" method="post" action="${escapeHtml(form.action)}">
<div id="portico-login-error" class="portico-error" role="alert">${escapeHtml(error)}</div>
<input type="hidden" name="csrf" value="${escapeHtml(form.csrf)}">
<input type="hidden" name="rd" value="${escapeHtml(form.rd)}">
<label for="portico-username">${t.username}</label>
<input id="portico-username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="256" value="${escapeHtml(form.username ?? '')}"${invalid}>
<label for="portico-password">${t.password}</label>
<input id="portico-password" name="password" type="password" autocomplete="current-password" required maxlength="1024"${invalid}>
<button class="portico-button" id="portico-login-submit" type="submit">${t.submit}</button>
</form>${loginHelp(pageBrand.get().login?.(lang).helpHtml ?? '')}`,
  });
}
