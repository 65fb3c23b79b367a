import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import {
  Client,
  type Entry,
  Filter,
  InvalidCredentialsError,
  ResultCodeError,
  SizeLimitExceededError,
} from 'ldapts';
import { parseDuration } from '../../../config/duration.ts';
import type { ProviderDefinition } from '../../../config/types.ts';

/** `identityProviders[]` with `type: ldap`, as config/schema.ts defines it. */
export type LdapDefinition = ProviderDefinition<'ldap'>;

/** The OID of Active Directory's LDAP_MATCHING_RULE_IN_CHAIN (transitive membership). */
export const IN_CHAIN_RULE = '1.2.840.113556.1.4.1941';
const MAX_GROUPS = 1000;

export type DirectoryUser = {
  dn: string;
  /** entryUUID (OpenLDAP, 389-ds) or objectGUID (AD): stable across renames and moves. */
  uuid: string | undefined;
  username: string | undefined;
  email: string | undefined;
  name: string | undefined;
  memberOf: string[];
};

/** Why a login was refused; the user only ever sees one generic message. */
export class CredentialsRejected extends Error {
  /** The entry whose password was wrong, when one was found. */
  readonly dn: string | undefined;
  constructor(message: string, dn?: string) {
    super(message);
    this.dn = dn;
  }
}
/** The directory could not be reached or answered with an error it should not have. */
export class DirectoryUnavailable extends Error {}

/** The resolved settings of a directory, defaults applied. */
export function directorySettings(def: LdapDefinition) {
  const ad = def.activeDirectory === true;
  const nested = def.nestedGroups === true ? (ad ? 'in-chain' : 'recursive') : def.nestedGroups || undefined;
  return {
    ad,
    userFilter: def.userFilter ?? (ad ? '(sAMAccountName={username})' : '(uid={username})'),
    groupFilter: def.groupFilter ?? '(member={dn})',
    groupBase: def.groupBase ?? def.userBase,
    groupNameAttribute: def.groupNameAttribute ?? 'cn',
    nested: nested as 'in-chain' | 'recursive' | undefined,
    depth: Math.min(Math.max(def.nestedGroupsDepth ?? 5, 1), 20),
    attributes: {
      username: def.attributes?.username ?? (ad ? 'sAMAccountName' : 'uid'),
      email: def.attributes?.email ?? 'mail',
      name: def.attributes?.name ?? (ad ? 'displayName' : 'cn'),
    },
    timeoutMs: def.timeout !== undefined ? parseDuration(def.timeout) : 5000,
  };
}

/** The user search filter with the typed name escaped by ldapts (RFC 4515: `*`, `(`, `)`, `\`, NUL). */
export function userSearchFilter(def: LdapDefinition, username: string): string {
  return directorySettings(def).userFilter.replaceAll('{username}', () => Filter.escape(username));
}

/**
 * The group search filter for a member DN. With AD in-chain nesting the configured filter's
 * `member` test becomes `(member:1.2.840.113556.1.4.1941:=<dn>)`, which AD resolves transitively.
 */
export function groupSearchFilter(def: LdapDefinition, memberDn: string, username = ''): string {
  const s = directorySettings(def);
  const template =
    s.nested === 'in-chain' && def.groupFilter === undefined
      ? `(member:${IN_CHAIN_RULE}:={dn})`
      : s.groupFilter;
  return template
    .replaceAll('{dn}', () => Filter.escape(memberDn))
    .replaceAll('{username}', () => Filter.escape(username));
}

/**
 * One login against the directory: service bind, user search (exactly one entry), a bind as that
 * user with the password on a connection of its own, then the groups as the service account.
 */
export async function authenticateAgainstDirectory(
  def: LdapDefinition,
  username: string,
  password: string,
  /** Called with the entry found, before its password is tried (a throttle by account throws). */
  beforeBind?: (dn: string) => Promise<void>,
): Promise<{ user: DirectoryUser; groups: string[] }> {
  // An empty password is an unauthenticated bind (RFC 4513 §5.1.2) that servers answer with
  // success: it must never reach the directory as a password check.
  if (password === '') throw new CredentialsRejected('empty password');
  const service = await openClient(def);
  try {
    let user: DirectoryUser;
    try {
      user = await findUser(def, service, username);
    } catch (err) {
      // Unknown and ambiguous users still cost a connection and a bind (to a DN that does not
      // exist, so no real account is locked out): the answer time does not tell them apart.
      if (err instanceof CredentialsRejected)
        await bindAsUser(def, decoyDn(def), password).catch(() => undefined);
      throw err;
    }
    try {
      await beforeBind?.(user.dn);
    } catch (err) {
      // Refused before its password is tried (an account over its budget of guesses): answered in
      // the time a wrong password takes, so the refusal does not tell that the account exists.
      if (err instanceof CredentialsRejected)
        await bindAsUser(def, decoyDn(def), password).catch(() => undefined);
      throw err;
    }
    await bindAsUser(def, user.dn, password);
    const groups = await findGroups(def, service, user);
    return { user: { ...user, username: user.username ?? username }, groups };
  } finally {
    await service.unbind().catch(() => undefined);
  }
}

/** The password check: a bind as the user on a connection of its own, closed at once. */
async function bindAsUser(def: LdapDefinition, dn: string, password: string): Promise<void> {
  const check = await openClient(def, false);
  try {
    await check.bind(dn, password);
  } catch (err) {
    if (err instanceof InvalidCredentialsError) throw new CredentialsRejected('wrong password', dn);
    throw unavailable(err);
  } finally {
    await check.unbind().catch(() => undefined);
  }
}

function decoyDn(def: LdapDefinition): string {
  return `cn=portico-no-such-user-${randomBytes(6).toString('hex')},${def.userBase}`;
}

/** Connects (StartTLS when asked) and binds the service account: the readiness check. */
export async function checkDirectory(def: LdapDefinition): Promise<void> {
  const c = await openClient(def);
  await c.unbind().catch(() => undefined);
}

async function openClient(def: LdapDefinition, bindService = true): Promise<Client> {
  const s = directorySettings(def);
  const url = new URL(def.url);
  const tlsOptions: ConnectionOptions = {
    ca: def.tls?.ca ? pemOrFile(def.tls.ca) : undefined,
    rejectUnauthorized: def.tls?.insecureSkipVerify !== true,
    minVersion: 'TLSv1.2',
  };
  const host = def.tls?.serverName ?? url.hostname.replace(/^\[|\]$/g, '');
  if (!isIP(host)) tlsOptions.servername = host;
  const client = new Client({
    url: def.url,
    timeout: s.timeoutMs,
    connectTimeout: s.timeoutMs,
    // ldapts speaks TLS from the first byte whenever tlsOptions are given: only for ldaps://.
    tlsOptions: url.protocol === 'ldaps:' ? tlsOptions : undefined,
    strictDN: false,
  });
  try {
    if (def.startTls && url.protocol === 'ldap:') await client.startTLS({ ...tlsOptions, host });
    if (bindService && def.bindDn) await client.bind(def.bindDn, def.bindPassword ?? '');
    return client;
  } catch (err) {
    await client.unbind().catch(() => undefined);
    throw unavailable(err, bindService && def.bindDn ? 'the service bind failed' : undefined);
  }
}

async function findUser(def: LdapDefinition, client: Client, username: string): Promise<DirectoryUser> {
  const s = directorySettings(def);
  const a = s.attributes;
  let entries: Entry[];
  try {
    ({ searchEntries: entries } = await client.search(def.userBase, {
      scope: 'sub',
      filter: userSearchFilter(def, username),
      // Two are enough to tell "exactly one" from "ambiguous".
      sizeLimit: 2,
      attributes: [a.username, a.email, a.name, 'memberOf', 'entryUUID', 'objectGUID'],
      explicitBufferAttributes: ['objectGUID'],
    }));
  } catch (err) {
    if (err instanceof SizeLimitExceededError) throw new CredentialsRejected('ambiguous user');
    throw unavailable(err);
  }
  if (entries.length === 0) throw new CredentialsRejected('unknown user');
  if (entries.length > 1) throw new CredentialsRejected('ambiguous user');
  const e = entries[0]!;
  const guid = e.objectGUID;
  return {
    dn: e.dn,
    uuid: first(e.entryUUID) ?? (Buffer.isBuffer(guid) && guid.length === 16 ? formatGuid(guid) : undefined),
    username: first(e[a.username]),
    email: first(e[a.email]),
    name: first(e[a.name]),
    memberOf: all(e.memberOf),
  };
}

/**
 * Whether `dn` is `base` or below it, compared RDN by RDN: an escaped comma (`\,` or `\2C`, as AD
 * and OpenLDAP write it) is part of a value, never a separator, so `CN=Admins\,OU=Groups,DC=corp`
 * is not under `OU=Groups,DC=corp`. Types and values compared without case.
 */
export function underBase(dn: string, base: string): boolean {
  const d = rdns(dn);
  const b = rdns(base);
  if (d === undefined || b === undefined || d.length < b.length) return false;
  return b.every((rdn, i) => d[d.length - b.length + i] === rdn);
}

/** A DN's RDNs, each `type=value` with the value unescaped and both lower-cased; undefined when malformed. */
function rdns(dn: string): string[] | undefined {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < dn.length; i++) {
    const c = dn[i]!;
    if (c === '\\') {
      const hex = /^[0-9a-fA-F]{2}/.exec(dn.slice(i + 1, i + 3));
      if (hex) {
        current += `\u0000${hex[0].toLowerCase()}`;
        i += 2;
      } else if (i + 1 < dn.length) {
        current += `\u0000${dn.charCodeAt(++i).toString(16).padStart(2, '0')}`;
      } else return undefined;
    } else if (c === ',' || c === ';') {
      out.push(current);
      current = '';
    } else current += c;
  }
  out.push(current);
  return out.map((rdn) => {
    const eq = rdn.indexOf('=');
    return eq === -1
      ? rdn.trim().toLowerCase()
      : `${rdn.slice(0, eq).trim().toLowerCase()}=${rdn
          .slice(eq + 1)
          .trim()
          .toLowerCase()}`;
  });
}

async function findGroups(def: LdapDefinition, client: Client, user: DirectoryUser): Promise<string[]> {
  const s = directorySettings(def);
  const names = new Map<string, string>(); // DN (lower case) → name
  try {
    if (def.memberOf && s.nested !== 'in-chain') {
      // An explicit groupBase bounds memberOf as it bounds a group search: whoever may create a
      // group in another OU must not mint a name that allow rules trust.
      const inBase = (dn: string) => def.groupBase === undefined || underBase(dn, def.groupBase);
      let level = user.memberOf.filter(inBase);
      for (let depth = 0; level.length > 0 && names.size < MAX_GROUPS; depth++) {
        const next: string[] = [];
        for (const dn of level) {
          if (names.has(dn.toLowerCase())) continue;
          names.set(dn.toLowerCase(), rdnValue(dn, s.groupNameAttribute) ?? dn);
          if (s.nested === 'recursive' && depth + 1 < s.depth) {
            const parent = await readEntry(client, dn, ['memberOf', s.groupNameAttribute]);
            if (parent) {
              const name = first(parent[s.groupNameAttribute]);
              if (name) names.set(dn.toLowerCase(), name);
              next.push(...all(parent.memberOf).filter(inBase));
            }
          }
        }
        level = s.nested === 'recursive' ? next : [];
      }
      if (!s.nested)
        for (const dn of user.memberOf.filter(inBase)) {
          if (rdnValue(dn, s.groupNameAttribute) !== undefined) continue;
          const g = await readEntry(client, dn, [s.groupNameAttribute]);
          const name = g ? first(g[s.groupNameAttribute]) : undefined;
          if (name) names.set(dn.toLowerCase(), name);
        }
      return sortedNames(names);
    }
    let frontier = [user.dn];
    const maxDepth = s.nested === 'recursive' ? s.depth : 1;
    for (let depth = 0; depth < maxDepth && frontier.length > 0 && names.size < MAX_GROUPS; depth++) {
      const filters = frontier.map((dn) => groupSearchFilter(def, dn, user.username ?? ''));
      const { searchEntries } = await client.search(s.groupBase, {
        scope: 'sub',
        filter: filters.length === 1 ? filters[0]! : `(|${filters.join('')})`,
        attributes: [s.groupNameAttribute],
        paged: { pageSize: 500 },
        sizeLimit: MAX_GROUPS,
      });
      const next: string[] = [];
      for (const g of searchEntries) {
        const key = g.dn.toLowerCase();
        if (names.has(key)) continue; // a cycle, or a group reached twice
        names.set(key, first(g[s.groupNameAttribute]) ?? rdnValue(g.dn) ?? g.dn);
        next.push(g.dn);
      }
      // Next level: the groups that have these groups as members (bounded fan-out per level).
      frontier = next.slice(0, 200);
    }
    return sortedNames(names);
  } catch (err) {
    throw unavailable(err);
  }
}

async function readEntry(client: Client, dn: string, attributes: string[]): Promise<Entry | undefined> {
  try {
    const { searchEntries } = await client.search(dn, {
      scope: 'base',
      filter: '(objectClass=*)',
      attributes,
    });
    return searchEntries[0];
  } catch (err) {
    // A dangling memberOf value, or a group the service account may not read: skip it.
    if (err instanceof ResultCodeError) return undefined;
    throw err;
  }
}

function sortedNames(names: Map<string, string>): string[] {
  return [...new Set(names.values())].sort();
}

function unavailable(err: unknown, what?: string): DirectoryUnavailable {
  if (err instanceof DirectoryUnavailable) return err;
  const message = (err as Error)?.message ?? String(err);
  return new DirectoryUnavailable(what ? `${what}: ${message}` : message, { cause: err });
}

function first(v: Entry[string] | undefined): string | undefined {
  const x = Array.isArray(v) ? v[0] : v;
  if (x === undefined) return undefined;
  const s = Buffer.isBuffer(x) ? x.toString('utf8') : x;
  return s === '' ? undefined : s;
}

function all(v: Entry[string] | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : x));
}

/** AD's objectGUID bytes → the familiar string form (the first three fields are little-endian). */
export function formatGuid(b: Buffer): string {
  const h = b.toString('hex');
  const le = (from: number, to: number) => h.slice(from, to).match(/../g)!.reverse().join('');
  return `${le(0, 8)}-${le(8, 12)}-${le(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The value of a DN's first RDN (`cn=GPU Admins,ou=groups,…` → `GPU Admins`), when its type is
 * `type` (any type if not given). Handles `\,` and `\2c` escapes (RFC 4514).
 */
export function rdnValue(dn: string, type?: string): string | undefined {
  let i = 0;
  let rdn = '';
  for (; i < dn.length; i++) {
    const c = dn[i]!;
    if (c === '\\') {
      rdn += c + (dn[i + 1] ?? '');
      i++;
      continue;
    }
    if (c === ',' || c === '+') break;
    rdn += c;
  }
  const eq = rdn.indexOf('=');
  if (eq < 0) return undefined;
  if (type && rdn.slice(0, eq).trim().toLowerCase() !== type.toLowerCase()) return undefined;
  const raw = [...rdn.slice(eq + 1).trim()];
  const bytes: number[] = [];
  for (let j = 0; j < raw.length; j++) {
    const c = raw[j]!;
    const hex = (raw[j + 1] ?? '') + (raw[j + 2] ?? '');
    if (c === '\\' && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      j += 2;
    } else if (c === '\\') {
      j++;
      if (j < raw.length) bytes.push(...Buffer.from(raw[j]!));
    } else bytes.push(...Buffer.from(c));
  }
  return Buffer.from(bytes).toString('utf8') || undefined;
}

/**
 * A PEM given inline, or the path of a PEM file, read at each connection: directory sign-ins are
 * rare next to the cost of a read, and a CA file replaced on disk is picked up without a restart.
 */
export function pemOrFile(value: string): string {
  return value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8');
}
