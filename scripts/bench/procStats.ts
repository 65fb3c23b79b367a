// What /proc says about the processes under test: CPU time, resident memory, children.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** utime + stime of the processes, in milliseconds (clock ticks are 10 ms on Linux). */
function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    // A process that has exited counts 0: nginx's cache loader leaves a minute after start, having
    // used next to no CPU.
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10;
}

function rssKb(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone: contributes nothing
    }
  }
  return kb;
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** The file-descriptor hard limit of this process (children inherit it unless raised). */
function nofileHardLimit(): number {
  const line = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(
    readFileSync('/proc/self/limits', 'utf8'),
  );
  return line?.[2] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(line?.[2] ?? 1024);
}

export const procStats = { cpuMs, rssKb, childrenOf, nofileHardLimit };
