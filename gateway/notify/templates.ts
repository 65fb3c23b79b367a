import type { AlertEvent } from './events.ts';
import { formatDuration, formatTime, oneLine } from './format.ts';

export type Lang = 'zh-CN' | 'en-US';
export type Level = 'critical' | 'warning' | 'ok' | 'info';

/** A message before a platform renders it: a title, label/value fields and extra lines. */
export type Message = {
  title: string;
  level: Level;
  fields: [label: string, value: string][];
  lines: string[];
  /** "source · time", shown small at the end. */
  footer: string;
};

const T = {
  'zh-CN': {
    down: (r: string) => `【故障】上游服务不可达：${r}`,
    up: (r: string) => `【恢复】上游服务已恢复：${r}`,
    reloaded: '配置已重新加载',
    rejected: '【配置被拒绝】继续使用上一份有效配置',
    burst: '【安全】登录失败次数激增',
    admin: (a: string) => `管理变更：${a}`,
    route: '路由',
    upstream: '上游',
    reason: '原因',
    failures: '连续失败',
    times: (n: number) => `${n} 次`,
    downtime: '中断时长',
    file: '文件',
    version: '版本',
    routes: '路由数',
    problems: (n: number) => `${n} 处错误：`,
    more: (n: number) => `……另有 ${n} 处`,
    count: '失败次数',
    within: (n: number, w: string) => `${w}内 ${n} 次`,
    idps: '登录方式',
    ips: '来源 IP',
    users: '尝试的用户名（未验证）',
    actor: '操作人',
    detail: '详情',
    merged: (n: number) => `期间状态变化 ${n} 次，已合并通知`,
    colon: '：',
  },
  'en-US': {
    down: (r: string) => `[DOWN] Upstream unreachable: ${r}`,
    up: (r: string) => `[RECOVERED] Upstream is back: ${r}`,
    reloaded: 'Configuration reloaded',
    rejected: '[CONFIG REJECTED] The last good configuration keeps serving',
    burst: '[SECURITY] Burst of failed logins',
    admin: (a: string) => `Admin change: ${a}`,
    route: 'Route',
    upstream: 'Upstream',
    reason: 'Reason',
    failures: 'Failed checks',
    times: (n: number) => `${n} in a row`,
    downtime: 'Down for',
    file: 'File',
    version: 'Version',
    routes: 'Routes',
    problems: (n: number) => `${n} problem${n === 1 ? '' : 's'}:`,
    more: (n: number) => `… and ${n} more`,
    count: 'Failures',
    within: (n: number, w: string) => `${n} within ${w}`,
    idps: 'Providers',
    ips: 'Client IPs',
    users: 'User names tried (unverified)',
    actor: 'By',
    detail: 'Detail',
    merged: (n: number) => `${n} changes merged while it was flapping`,
    colon: ': ',
  },
} as const;

const list = (xs: string[], max = 5) =>
  xs.length === 0
    ? '-'
    : xs
        .slice(0, max)
        .map((x) => oneLine(x, 80))
        .join(', ') + (xs.length > max ? ', …' : '');

/** The message for an event, in zh-CN (default) or en-US. */
export function compose(event: AlertEvent, lang: Lang = 'zh-CN'): Message {
  const t = T[lang];
  const footer = `${event.source} · ${formatTime(event.time, lang)}`;
  const lines: string[] = [];
  if (event.merged && event.merged > 1) lines.push(t.merged(event.merged));
  switch (event.type) {
    case 'upstream.down': {
      const d = event.data;
      return {
        title: t.down(d.route),
        level: 'critical',
        fields: [
          [t.route, d.route],
          [t.upstream, d.upstream],
          [t.reason, oneLine(d.error, 200)],
          [t.failures, t.times(d.failures)],
        ],
        lines,
        footer,
      };
    }
    case 'upstream.up': {
      const d = event.data;
      const fields: Message['fields'] = [
        [t.route, d.route],
        [t.upstream, d.upstream],
      ];
      if (d.downtimeMs !== undefined) fields.push([t.downtime, formatDuration(d.downtimeMs, lang)]);
      return { title: t.up(d.route), level: 'ok', fields, lines, footer };
    }
    case 'config.reloaded': {
      const d = event.data;
      const fields: Message['fields'] = [];
      if (d.file) fields.push([t.file, d.file]);
      if (d.hash) fields.push([t.version, d.hash.slice(0, 12)]);
      if (d.routes !== undefined) fields.push([t.routes, String(d.routes)]);
      return { title: t.reloaded, level: 'info', fields, lines, footer };
    }
    case 'config.rejected': {
      const d = event.data;
      const fields: Message['fields'] = d.file ? [[t.file, d.file]] : [];
      lines.push(t.problems(d.problems.length));
      for (const p of d.problems.slice(0, 5))
        lines.push(oneLine(`${p.line ? `L${p.line} ` : ''}${p.path || '(root)'}: ${p.message}`, 200));
      if (d.problems.length > 5) lines.push(t.more(d.problems.length - 5));
      return { title: t.rejected, level: 'warning', fields, lines, footer };
    }
    case 'auth.failure_burst': {
      const d = event.data;
      return {
        title: t.burst,
        level: 'warning',
        fields: [
          [t.count, t.within(d.count, formatDuration(d.windowMs, lang))],
          [t.idps, list(d.idps)],
          [t.ips, list(d.ips)],
          [t.users, list(d.users)],
        ],
        lines,
        footer,
      };
    }
    case 'admin.change': {
      const d = event.data;
      const fields: Message['fields'] = [];
      if (d.actor) fields.push([t.actor, oneLine(d.actor, 100)]);
      if (d.ip) fields.push([t.ips, d.ip]);
      if (d.detail) fields.push([t.detail, oneLine(d.detail, 300)]);
      return { title: t.admin(oneLine(d.action, 100)), level: 'info', fields, lines, footer };
    }
  }
}

export function colon(lang: Lang): string {
  return T[lang].colon;
}

/**
 * A value as plain text inside DingTalk, Feishu and WeCom Markdown. Values come from requests (a
 * user name typed at a sign-in form, an upstream's error) and must not become a link, an image or
 * formatting in the operators' chat: those renderers have no reliable escape, so the characters
 * that make markup become their full-width look-alikes, and `://` is broken so no URL is linked.
 */
export function markdownText(value: string): string {
  return value
    .replace(/[[\]()<>*`#!|~]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) + 0xfee0))
    .replace(/:\/\//g, ':/\u200b/');
}

/** Markdown as DingTalk, Feishu (lark_md) and WeCom render it. */
export function toMarkdown(
  m: Message,
  lang: Lang,
  o: { heading?: string; breakLine: string; footer?: (text: string) => string },
): string {
  const c = colon(lang);
  const parts = o.heading ? [`${o.heading} ${m.title}`] : [];
  for (const [k, v] of m.fields) parts.push(`**${k}**${c}${markdownText(v)}`);
  for (const l of m.lines) parts.push(markdownText(l));
  if (o.footer) parts.push(o.footer(m.footer));
  return parts.join(o.breakLine);
}

export function toText(m: Message, lang: Lang): string {
  const c = colon(lang);
  return [m.title, ...m.fields.map(([k, v]) => `${k}${c}${v}`), ...m.lines, m.footer].join('\n');
}

/**
 * Slack reads `&`, `<` and `>` as control characters in every text it formats, including a
 * message's top-level `text` (`<!channel>` notifies everyone, `<https://x|label>` is a link).
 */
export const slackEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Plain text as Feishu shows a text message: `<at user_id="all">` there mentions everyone, so
 * angle brackets become their full-width look-alikes (as markdownText does for Markdown).
 */
export function feishuText(value: string): string {
  return value.replace(/[<>]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) + 0xfee0));
}

/** Slack's mrkdwn: *bold*, and &, <, > escaped. */
export function toSlackMrkdwn(m: Message, lang: Lang): string {
  const c = colon(lang);
  return [
    ...m.fields.map(([k, v]) => `*${slackEscape(k)}*${c}${slackEscape(v)}`),
    ...m.lines.map(slackEscape),
  ].join('\n');
}
