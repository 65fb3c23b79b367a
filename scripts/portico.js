#!/usr/bin/env node
// The `portico` command. Portico is TypeScript run natively by Node 24; when an older system
// node starts this shim, it hands over to the Node 24 pinned in node_modules, as `exec` would:
// every signal is passed on and the shim ends the way the gateway ended.
import { existsSync } from 'node:fs';
import module from 'node:module';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What process managers, terminals and operators send (SIGTSTP/SIGCONT are left to job control). */
const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGALRM'];

/**
 * V8 flags the gateway runs with. `--max-semi-space-size=4` caps each semi-space of V8's young
 * generation at 4 MB: under load Node 24 lets them grow to 16 MB and keeps them committed — in
 * the bench's soak the committed heap was 174 MB with 40–80 MB in use, 52 MB with the cap, and RSS
 * 319 → 250 MB; idle RSS ~5 MB less. The CPU per request measured the same within noise (2 MB
 * saved a little more memory but cost ~7 % more CPU per request). A flag given on the command line
 * or in NODE_OPTIONS wins (`node --max-semi-space-size=16 scripts/portico.js serve`).
 */
const NODE_FLAGS = ['--max-semi-space-size=4'];

stopWhenLauncherExits();

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(pinned)) {
    console.error(`portico needs Node.js 24 or newer (this is ${process.version}); run npm ci first.`);
    process.exit(1);
  }
  // Only here: a start under Node 24 does not load node:child_process.
  const { spawn } = await import('node:child_process');
  const child = spawn(pinned, [...NODE_FLAGS, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  const forward = (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of FORWARDED) process.on(signal, forward);
  child.on('error', (err) => {
    console.error(`portico: cannot start ${pinned}: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1);
    // Die of the same signal, so whoever waits on us sees what happened to the gateway.
    for (const s of FORWARDED) process.removeAllListeners(s);
    process.kill(process.pid, signal);
    setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 100).unref();
  });
} else if (missingFlags().length > 0 && typeof process.execve === 'function') {
  // Starts again as the same process (same pid, signals and stdio) with the flags: V8 reads them
  // only when the process starts.
  process.execve(process.execPath, [
    process.execPath,
    ...missingFlags(),
    ...process.execArgv,
    fileURLToPath(import.meta.url),
    ...process.argv.slice(2),
  ]);
} else {
  // Node keeps the type-stripped and compiled form of every module in a cache on disk (the OS temp
  // folder, or NODE_COMPILE_CACHE): a start that finds it loads neither the TypeScript stripper
  // (~20 MB of RSS for the life of the process) nor recompiles, so it comes up faster and smaller.
  // Nothing changes when the folder cannot be written; a changed file is simply recompiled.
  module.enableCompileCache();
  const { main } = await import('../gateway/cli.ts');
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`portico: ${err?.stack ?? err}`);
      process.exit(1);
    },
  );
}

/** NODE_FLAGS this process was not started with (none when the user set the same flag). */
function missingFlags() {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return NODE_FLAGS.filter((flag) => {
    const name = flag.split('=')[0];
    // V8 accepts its flags with - or _ between words.
    return !given.some((g) => g.replaceAll('_', '-').split('=')[0] === name);
  });
}

/**
 * `npx portico serve` and npm scripts run the command through `sh -c`; on SIGTERM npm passes the
 * signal to that shell, which dies without passing it on, and the gateway would be left running,
 * orphaned, never draining. Under npm the launcher's end is therefore taken as the SIGTERM it
 * stands for: the gateway drains and exits. (Started any other way, nothing is watched.)
 */
function stopWhenLauncherExits() {
  if (process.env.npm_command === undefined && process.env.npm_lifecycle_event === undefined) return;
  const launcher = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === launcher) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, 250);
  timer.unref();
}
