// `npm start`: the whole OEM OUT picture on one machine, with no external service.
//   http://localhost:8080/        the demo customer system (through Portico)
//   http://localhost:8080/dce5/   the demo AI platform, with its own sign-in realm and a web terminal
// plus a development OpenID Connect provider (oidc-provider) with two users.
import { readFileSync } from 'node:fs';
import { startDemo } from './demo/startDemo.ts';

const env = process.env;
// `npm start` runs this under `sh -c`. When npm is stopped with SIGTERM, npm and the shell go but
// the signal does not always reach this process, which would keep every port. A changed parent
// means we were orphaned: stop as if signalled. Run by npm, npm itself (the shell's parent, read
// from /proc where there is one) is watched too: should the shell outlive npm, we stop all the same.
// Both are read first thing: read after the banner, a busy machine could let npm be stopped in
// between, and the orphan would take init for its parent and run on (CI saw it: PPID 1, all ports
// held).
const parent = process.ppid;
const npm = env.npm_lifecycle_event ? shellParent(parent) : undefined;
const demo = await startDemo({
  port: Number(env.PORTICO_PORT ?? 8080),
  publicUrl: env.PORTICO_PUBLIC_URL,
  customerPort: Number(env.DEMO_CUSTOMER_PORT ?? 18081),
  aiPort: Number(env.DEMO_AI_PORT ?? 18082),
  idpPort: Number(env.DEMO_IDP_PORT ?? 18090),
});
const base = demo.publicUrl;

process.stdout.write(`
  Portico demo is running.

    Customer system   ${base}/
    AI platform       ${base}/dce5/          (sign-in required, group ai-users)
    Web terminal      ${base}/dce5/terminal
    AI sign-in realm  ${demo.ai.realm.urls.issuer}
    Identity provider ${demo.idp.issuer}
    Health, metrics   ${base}/_portico/readyz   ${base}/_portico/metrics

  Sign in as  alice / alice   (in ai-users: may open the AI platform)
         or   bob   / bob     (not in ai-users: the AI platform answers 403)
  The AI platform signs users in through its own realm, which registers Portico as its
  identity provider (as a real DCE 5 does, docs/dce5.md): no second login, no click.

  Edit routes.yaml or branding/brand.yaml and save: Portico reloads them (a broken file is
  rejected with its line numbers and the last good one keeps serving). Ctrl-C stops.

`);

let stopping = false;
const stop = (code: number) => {
  if (stopping) return;
  stopping = true;
  // Closing waits for in-flight requests; a stuck one must not keep the ports.
  setTimeout(() => process.exit(code === 0 ? 1 : code), 5000).unref();
  demo.close().then(
    () => process.exit(code),
    () => process.exit(1),
  );
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => stop(0));

setInterval(() => {
  if (process.ppid !== parent || (npm !== undefined && !alive(npm))) stop(0);
}, 500).unref();

function shellParent(pid: number): number | undefined {
  try {
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return ppid > 1 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
