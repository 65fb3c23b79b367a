import { makeCertificates } from './certs.ts';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './sso.ts';
import { accepts } from './processes.ts';
import { eventually } from './eventually.ts';

const SLAPD = '/usr/sbin/slapd';
const MODULES = '/usr/lib/ldap';
const SCHEMA = '/etc/ldap/schema';

export const BASE_DN = 'dc=example,dc=com';
export const PEOPLE = `ou=people,${BASE_DN}`;
export const GROUPS = `ou=groups,${BASE_DN}`;
export const SERVICE_DN = `cn=portico,ou=services,${BASE_DN}`;
export const SERVICE_PASSWORD = 'service-secret';

/** The directory's users: uid → password (and what the tests expect of them). */
export const USERS = {
  alice: { password: 'alice-pw', cn: 'Alice Zhang', mail: 'alice@example.com' },
  bob: { password: 'bob-pw', cn: 'Bob Li', mail: 'bob@example.com' },
  /** A user literally named `a*`: typing `a*` must log in as exactly this user, never alice. */
  'a*': { password: 'star-pw', cn: 'Asterisk User', mail: 'star@example.com' },
  /** In gpu-admins, which is itself a member of ai-users (a nested group). */
  carol: { password: 'carol-pw', cn: 'Carol Wang', mail: 'carol@example.com' },
} as const;

/** A test context, or anything else that runs cleanups later (a suite's `after`). */
export type Cleanup = { after(fn: () => unknown): unknown };

export type Slapd = {
  /** ldap:// on the loopback. */
  url: string;
  /** ldaps:// when started with `tls: true`. */
  ldapsUrl: string | undefined;
  /** The CA that signed the server certificate (for `ldap.test` and 127.0.0.1), when `tls`. */
  caFile: string | undefined;
  port: number;
  rootDn: string;
  rootPassword: string;
  /** Has the memberof overlay (memberOf attributes maintained by the server). */
  memberOf: boolean;
  stop(): Promise<void>;
};

/**
 * A real OpenLDAP slapd on a free loopback port: a generated slapd.conf (mdb backend, suffix
 * dc=example,dc=com, the memberof overlay when the module exists), everything in a temp dir,
 * data loaded online with ldapadd so the overlay fills memberOf. Stopped after the test.
 */
export async function startSlapd(t: Cleanup, options: { tls?: boolean } = {}): Promise<Slapd> {
  if (!existsSync(SLAPD) || spawnSync('ldapadd', ['-VV']).error) {
    throw new Error('OpenLDAP is not installed: apt-get install slapd ldap-utils');
  }
  const dir = mkdtempSync(join(tmpdir(), 'portico-slapd-'));
  mkdirSync(join(dir, 'db'));
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  const rootDn = `cn=admin,${BASE_DN}`;
  const rootPassword = 'root-secret';
  const memberOf = existsSync(join(MODULES, 'memberof.so'));
  const caFile = options.tls ? makeLdapCertificates(dir) : undefined;

  writeFileSync(
    join(dir, 'slapd.conf'),
    `include ${SCHEMA}/core.schema
include ${SCHEMA}/cosine.schema
include ${SCHEMA}/inetorgperson.schema
include ${SCHEMA}/nis.schema
modulepath ${MODULES}
moduleload back_mdb
${memberOf ? 'moduleload memberof' : ''}
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args
${
  caFile
    ? `TLSCACertificateFile ${dir}/ca.pem
TLSCertificateFile ${dir}/server.pem
TLSCertificateKeyFile ${dir}/server.key`
    : ''
}
database mdb
maxsize 16777216
suffix "${BASE_DN}"
rootdn "${rootDn}"
rootpw ${rootPassword}
directory ${dir}/db
index objectClass eq
index uid,member eq
${
  memberOf
    ? `overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE`
    : ''
}
access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to *
  by dn.exact="${SERVICE_DN}" read
  by self read
  by * none
`,
  );
  writeFileSync(join(dir, 'data.ldif'), dataLdif());

  const urls = `ldap://127.0.0.1:${port}/${tlsPort ? ` ldaps://127.0.0.1:${tlsPort}/` : ''}`;
  let child: ChildProcess | undefined = spawn(SLAPD, ['-d', '0', '-h', urls, '-f', join(dir, 'slapd.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
  const stop = async () => {
    const c = child;
    child = undefined;
    if (c && c.exitCode === null) {
      c.kill('SIGTERM');
      const done = await Promise.race([exited, sleep(2000).then(() => 'timeout' as const)]);
      if (done === 'timeout') c.kill('SIGKILL');
    }
  };
  t.after(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // slapd -d 0 says nothing when it is ready: ask until it accepts or exits.
  const started = child;
  const up = await eventually(
    () => accepts(port),
    (open) => open || started.exitCode !== null,
    { timeoutMs: 5000, intervalMs: 50 },
  );
  if (!up) throw new Error(`slapd did not start (exit ${started.exitCode}):\n${stderr.slice(-2000)}`);
  const add = spawnSync(
    'ldapadd',
    ['-x', '-H', `ldap://127.0.0.1:${port}`, '-D', rootDn, '-w', rootPassword, '-f', join(dir, 'data.ldif')],
    { encoding: 'utf8' },
  );
  if (add.status !== 0) throw new Error(`ldapadd failed: ${add.stderr}`);

  return {
    url: `ldap://127.0.0.1:${port}`,
    ldapsUrl: tlsPort ? `ldaps://127.0.0.1:${tlsPort}` : undefined,
    caFile,
    port,
    rootDn,
    rootPassword,
    memberOf,
    stop,
  };
}

function dataLdif(): string {
  const person = (uid: keyof typeof USERS) => {
    const u = USERS[uid];
    return `dn: uid=${uid},${PEOPLE}
objectClass: inetOrgPerson
uid: ${uid}
cn: ${u.cn}
sn: ${u.cn.split(' ').pop()}
mail: ${u.mail}
userPassword: ${u.password}
`;
  };
  return `dn: ${BASE_DN}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,${BASE_DN}
objectClass: organizationalUnit
ou: people

dn: ou=groups,${BASE_DN}
objectClass: organizationalUnit
ou: groups

dn: ou=services,${BASE_DN}
objectClass: organizationalUnit
ou: services

dn: ${SERVICE_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: portico
userPassword: ${SERVICE_PASSWORD}

${(Object.keys(USERS) as (keyof typeof USERS)[]).map(person).join('\n')}
dn: cn=gpu-admins,${GROUPS}
objectClass: groupOfNames
cn: gpu-admins
member: uid=carol,${PEOPLE}

dn: cn=ai-users,${GROUPS}
objectClass: groupOfNames
cn: ai-users
member: uid=alice,${PEOPLE}
member: cn=gpu-admins,${GROUPS}

dn: cn=staff,${GROUPS}
objectClass: groupOfNames
cn: staff
member: uid=alice,${PEOPLE}
member: uid=bob,${PEOPLE}
`;
}

/** A CA and a server certificate for ldap.test and 127.0.0.1. */
function makeLdapCertificates(dir: string): string {
  return makeCertificates(dir, {
    cn: 'ldap.test',
    names: ['DNS:ldap.test', 'IP:127.0.0.1'],
    caName: 'Portico LDAP Test CA',
  }).ca;
}
