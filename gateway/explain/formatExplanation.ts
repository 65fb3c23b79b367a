import type { Explanation } from './explainRequest.ts';

/** `portico explain` for a person: one labelled line per decision, then the upstream's headers. */
export function formatExplanation(e: Explanation): string {
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`${label.padEnd(10)} ${text}`);
  lines.push(
    `${e.request.method} ${e.request.target}${e.request.websocket ? ' (WebSocket)' : ''}  from ${e.request.as}`,
    '',
  );
  if (e.route) {
    const r = e.route;
    if (r.servers) {
      const g = r.servers;
      row('route', `${r.id}  ${r.path} → ${g.list.length} servers  (the longest matching prefix)`);
      for (const s of g.list)
        row(
          'server',
          `${s.url}${s.weight === 1 ? '' : `  weight ${s.weight}`}${s.backup ? '  backup (only while no other is in)' : ''}`,
        );
      row(
        'balance',
        `${g.balance === 'least-conn' ? 'least-conn (fewest open requests per weight)' : 'round-robin (in turn, by weight)'}${g.sticky ? '; a signed-in user stays on one server' : ''}; ${
          g.maxFails === 0
            ? 'a failing server is never left out'
            : `a server is left out for ${g.failTimeoutMs} ms after ${g.maxFails} failed connection${g.maxFails === 1 ? '' : 's'} within that time`
        }; a request without a body whose connection fails is tried once on another`,
      );
    } else row('route', `${r.id}  ${r.path} → ${r.upstream}  (the longest matching prefix)`);
    row(
      'auth',
      `${r.auth}${r.auth === 'required' ? ' (sign-in needed)' : r.auth === 'optional' ? ' (identity passed when signed in)' : ' (public: no identity)'}; bearer: ${r.bearer}`,
    );
  }
  if (e.authentication) row('by', e.authentication.detail);
  if (e.identity) {
    const i = e.identity;
    row(
      'identity',
      `user ${i.username}, groups [${i.groups.join(', ')}]${i.email ? `, email ${i.email}` : ''}, idp ${i.idp}, subject ${i.subject}`,
    );
  }
  if (e.allow) {
    const a = e.allow;
    const rules = JSON.stringify(a.rules);
    row(
      'allow',
      a.admitted
        ? `admitted by ${a.matchedBy.join('; ')}${rules === '{}' ? '' : `  (rules ${rules})`}`
        : `refused: no rule matches (rules ${rules})`,
    );
    if (a.hint) row('', `hint: ${a.hint}`);
  }
  for (const note of e.notes) row('note', note);
  row('outcome', `${e.outcome.status === 200 ? '' : `${e.outcome.status}: `}${e.outcome.summary}`);
  if (e.outcome.location) row('location', e.outcome.location);
  const u = e.upstream;
  if (u) {
    lines.push(
      '',
      `upstream request: ${u.method} ${u.url}${e.route?.servers ? '  (or the same path on the server picked)' : ''}`,
    );
    const width = Math.max(...Object.keys(u.headers).map((n) => n.length)) + 1;
    for (const [name, value] of Object.entries(u.headers).sort(([a], [b]) => a.localeCompare(b))) {
      const mark = u.setByPortico.includes(name) ? '  (set by Portico)' : '';
      lines.push(`  ${`${name}:`.padEnd(width + 1)} ${value}${mark}`);
    }
    lines.push(
      '',
      `authorization: ${
        u.authorization === 'absent'
          ? 'none sent'
          : u.authorization === 'forwarded'
            ? 'forwarded as the client sent it (it belongs to the upstream)'
            : u.authorization === 'removed'
              ? 'removed (a credential Portico checked itself never reaches an upstream)'
              : "set to the user's access token (inject.accessToken)"
      }`,
    );
    lines.push(
      u.assertion
        ? `assertion: ${u.assertion.header}: ${JSON.stringify(u.assertion.claims)}`
        : 'assertion: none (inject.jwt is off, or nobody is signed in)',
    );
    if (u.removed.length > 0) lines.push(`removed from the client's request: ${u.removed.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}
