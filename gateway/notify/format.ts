/** Cuts a string to at most `maxBytes` of UTF-8 without splitting a character, marking the cut. */
export function truncateUtf8(s: string, maxBytes: number, ellipsis = '…'): string {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= maxBytes) return s;
  let end = Math.max(maxBytes - Buffer.byteLength(ellipsis), 0);
  // buf[end] is the first byte left out: while it continues a character, that character is cut.
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8') + ellipsis;
}

/** Cuts a string to at most `max` characters (UTF-16 code units, not splitting a surrogate pair). */
export function truncateChars(s: string, max: number, ellipsis = '…'): string {
  if (s.length <= max) return s;
  let end = max - ellipsis.length;
  const code = s.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return s.slice(0, end) + ellipsis;
}

/** One line for a chat message: no line breaks, bounded length. */
export function oneLine(s: unknown, max = 300): string {
  return truncateChars(String(s ?? '').replace(/\s*[\r\n]+\s*/g, ' '), max);
}

export function formatDuration(ms: number, lang: string): string {
  const s = Math.max(Math.round(ms / 1000), 0);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (lang === 'zh-CN')
    return `${h ? `${h}小时` : ''}${m ? `${m}分` : ''}${sec || (!h && !m) ? `${sec}秒` : ''}`;
  return [h ? `${h}h` : '', m ? `${m}m` : '', sec || (!h && !m) ? `${sec}s` : ''].filter(Boolean).join(' ');
}

export function formatTime(d: Date, lang: string): string {
  return lang === 'zh-CN'
    ? d.toLocaleString('zh-CN', { hour12: false })
    : d.toLocaleString('en-US', { hour12: false, timeZoneName: 'short' });
}
