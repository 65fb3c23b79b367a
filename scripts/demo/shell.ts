// The demo web terminal's "shell": a tiny line-editing command interpreter. It never starts a
// process or touches the file system: every command is a pure function of the user and the
// clock. Per connection it keeps one input line (bounded), a short history and a parser state.
import { cleanText } from './common.ts';

/** Who opened the terminal, from the credential the upgrade carried (claims of a verified JWT). */
export type TerminalUser = {
  username: string;
  email?: string;
  name?: string;
  issuer: string;
  authenticatedBy: 'session token' | 'access key';
};

export const HOSTNAME = 'dce5';
const MAX_LINE = 256;
const MAX_HISTORY = 20;

export type ShellIO = {
  write(data: string): void;
  /** The user typed `exit`/`logout` or Ctrl-D on an empty line. */
  close(): void;
};

export type Shell = {
  /** Writes the banner and the first prompt. */
  start(): void;
  /** Feeds terminal input (keystrokes or a paste), as xterm.js sends it. */
  input(data: string): void;
};

const CSI = '\x1b[';
const RESET = `${CSI}0m`;
const bold = (s: string) => `${CSI}1m${s}${RESET}`;
const dim = (s: string) => `${CSI}2m${s}${RESET}`;
const green = (s: string) => `${CSI}32m${s}${RESET}`;
const cyan = (s: string) => `${CSI}36m${s}${RESET}`;
const blue = (s: string) => `${CSI}1;34m${s}${RESET}`;

type Command = {
  summary: string;
  run(args: string[], rest: string, ctx: Context): string | undefined;
};

type Context = { who: TerminalUser; user: string; now: () => Date; io: ShellIO };

const COMMANDS: Record<string, Command> = {
  help: {
    summary: 'list the commands of this demo shell',
    run: () =>
      [
        bold('AI 算力中心 demo terminal') + dim(' — a sandboxed toy shell, no real processes'),
        '',
        ...Object.entries(COMMANDS).map(([name, c]) => `  ${cyan(name.padEnd(11))} ${c.summary}`),
        '',
        dim('Keys: ←Backspace, ↑/↓ history, Tab completes, Ctrl-C cancels, Ctrl-L clears.'),
      ].join('\r\n'),
  },
  whoami: {
    summary: 'who this terminal belongs to, from the token it was opened with',
    run: (_a, _r, ctx) => {
      const who = ctx.who;
      const row = (label: string, value: string | undefined) =>
        `  ${(label + ':').padEnd(18)}${value === undefined ? dim('(none)') : clean(value)}`;
      return [
        bold(ctx.user),
        row('user', who.username),
        row('email', who.email),
        row('name', who.name),
        row('issuer', who.issuer),
        `  ${'authenticated by:'.padEnd(18)}${green(who.authenticatedBy)} ${dim('(verified JWT, not shown)')}`,
      ].join('\r\n');
    },
  },
  date: {
    summary: 'print the date and time (UTC)',
    run: (_a, _r, ctx) => formatDate(ctx.now()),
  },
  echo: {
    summary: 'print its arguments',
    run: (args) => args.join(' '),
  },
  'nvidia-smi': {
    summary: 'show the (fake) GPUs of this node',
    run: (_a, _r, ctx) => nvidiaSmi(ctx.now()),
  },
  ls: {
    summary: 'list the (fake) home directory',
    run: () =>
      [
        blue('datasets'),
        blue('models'),
        blue('notebooks'),
        green('train.py'),
        'README.md',
        'requirements.txt',
      ].join('  '),
  },
  pwd: {
    summary: 'print the working directory',
    run: (_a, _r, ctx) => `/home/${ctx.user}`,
  },
  clear: {
    summary: 'clear the screen',
    run: () => `${CSI}H${CSI}2J${CSI}3J`,
  },
  exit: {
    summary: 'close this terminal',
    run: (_a, _r, ctx) => {
      ctx.io.write('logout\r\n');
      ctx.io.close();
      return undefined;
    },
  },
};

export function createShell(who: TerminalUser, io: ShellIO, options: { now?: () => Date } = {}): Shell {
  const user = promptUser(who);
  const prompt = `${user}@${HOSTNAME}:~$ `;
  let line: string[] = []; // code points, so backspace removes a whole character
  const history: string[] = [];
  let historyIndex = 0; // history.length means "the line being typed"
  let escState: '' | 'esc' | 'csi' | 'ss3' = '';
  let csiParams = '';
  let lastWasCR = false;
  let closed = false;

  const write = (s: string) => {
    if (!closed) io.write(s);
  };
  const close = () => {
    if (closed) return;
    closed = true;
    io.close();
  };
  const ctx: Context = { who, user, now: options.now ?? (() => new Date()), io: { write, close } };

  function replaceLine(text: string): void {
    line = Array.from(text).slice(0, MAX_LINE);
    write(`\r${CSI}K${prompt}${line.join('')}`);
  }

  function submit(): void {
    const text = line.join('');
    line = [];
    write('\r\n');
    if (text.trim() !== '') {
      if (history.at(-1) !== text) history.push(text);
      if (history.length > MAX_HISTORY) history.shift();
    }
    historyIndex = history.length;
    const output = execute(text, ctx);
    if (closed) return;
    if (output !== undefined && output !== '') {
      write(output);
      if (!output.endsWith(`${CSI}3J`)) write('\r\n');
    }
    write(prompt);
  }

  function complete(): void {
    const text = line.join('');
    if (text.includes(' ')) return;
    const matches = Object.keys(COMMANDS).filter((c) => c.startsWith(text));
    if (matches.length === 1) {
      const rest = matches[0]!.slice(text.length) + ' ';
      line.push(...rest);
      write(rest);
    } else if (matches.length > 1 && text !== '') {
      write('\r\n' + matches.join('  ') + '\r\n' + prompt + text);
    }
  }

  function onEscape(final: string): void {
    if (final === 'A' && historyIndex > 0) {
      historyIndex--;
      replaceLine(history[historyIndex]!);
    } else if (final === 'B' && historyIndex < history.length) {
      historyIndex++;
      replaceLine(history[historyIndex] ?? '');
    }
    // ←/→, Home/End, Delete…: the cursor always stays at the end of the line.
  }

  function key(ch: string): void {
    if (escState === 'esc') {
      escState = ch === '[' ? 'csi' : ch === 'O' ? 'ss3' : '';
      csiParams = '';
      return;
    }
    if (escState === 'ss3') {
      escState = '';
      onEscape(ch);
      return;
    }
    if (escState === 'csi') {
      const code = ch.charCodeAt(0);
      if (code >= 0x40 && code <= 0x7e) {
        escState = '';
        if (csiParams === '') onEscape(ch);
      } else if (csiParams.length < 16) {
        csiParams += ch;
      } else {
        escState = ''; // malformed: give up on it
      }
      return;
    }
    const wasCR = lastWasCR;
    lastWasCR = ch === '\r';
    switch (ch) {
      case '\r':
        submit();
        return;
      case '\n':
        if (!wasCR) submit();
        return;
      case '\x7f':
      case '\b': {
        const removed = line.pop();
        if (removed !== undefined) write(isWide(removed) ? '\b\b  \b\b' : '\b \b');
        return;
      }
      case '\x03': // Ctrl-C
        line = [];
        historyIndex = history.length;
        write(`^C\r\n${prompt}`);
        return;
      case '\x04': // Ctrl-D
        if (line.length === 0) {
          write('logout\r\n');
          close();
        }
        return;
      case '\x0c': // Ctrl-L
        write(`${CSI}H${CSI}2J${prompt}${line.join('')}`);
        return;
      case '\x15': // Ctrl-U
        line = [];
        write(`\r${CSI}K${prompt}`);
        return;
      case '\t':
        complete();
        return;
      case '\x1b':
        escState = 'esc';
        return;
    }
    const code = ch.codePointAt(0)!;
    if (code < 0x20 || (code >= 0x7f && code < 0xa0)) return; // other control characters
    if (line.length >= MAX_LINE) return; // bell would be nice; silence is enough
    line.push(ch);
    write(ch);
  }

  return {
    start() {
      write(
        `${bold('Welcome to AI 算力中心')} ${dim('(DCE 5 demo web terminal)')}\r\n` +
          `${dim('This is a sandboxed toy shell: no real processes run here. Type')} ${cyan('help')}${dim('.')}\r\n\r\n` +
          prompt,
      );
    },
    input(data: string) {
      for (const ch of data) {
        if (closed) return;
        key(ch);
      }
    },
  };
}

/** Splits a command line on blanks, honouring '…' and "…" quotes (no expansion, no escapes). */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"?|'([^']*)'?|(\S+?)(?=\s|$|["'])/g;
  let current: string | null = null;
  let lastEnd = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const piece = m[1] ?? m[2] ?? m[3] ?? '';
    const glued = current !== null && m.index === lastEnd;
    if (glued) current += piece;
    else {
      if (current !== null) out.push(current);
      current = piece;
    }
    lastEnd = m.index + m[0].length;
  }
  if (current !== null) out.push(current);
  return out;
}

function execute(text: string, ctx: Context): string | undefined {
  const [name, ...args] = tokenize(text.trim());
  if (name === undefined) return undefined;
  const command =
    name === 'logout' ? COMMANDS['exit'] : Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) return `${name}: command not found`;
  return command.run(args, text, ctx);
}

/** The user shown in the prompt: the token's username; no blanks or control characters, bounded. */
function promptUser(who: TerminalUser): string {
  const user = clean(who.username).replace(/\s+/g, '_').slice(0, 64);
  return user === '' ? 'guest' : user;
}

/** Claims are printed to a terminal: never let one carry escape sequences. */
function clean(value: string): string {
  return cleanText(value) ?? '';
}

function isWide(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  return (
    (c >= 0x1100 && c <= 0x115f) ||
    (c >= 0x2e80 && c <= 0xa4cf) ||
    (c >= 0xac00 && c <= 0xd7a3) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xfe30 && c <= 0xfe4f) ||
    (c >= 0xff00 && c <= 0xff60) ||
    (c >= 0xffe0 && c <= 0xffe6) ||
    (c >= 0x1f300 && c <= 0x1faff) ||
    (c >= 0x20000 && c <= 0x3fffd)
  );
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Like coreutils `date` with TZ=UTC: Sun Nov 23 15:24:00 UTC 2025 */
export function formatDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2)} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`
  );
}

const GPUS = [
  { fan: 'N/A', temp: 41, perf: 'P0', power: 312, mem: 61440, util: 97, bus: '00000000:18:00.0' },
  { fan: 'N/A', temp: 39, perf: 'P0', power: 298, mem: 61440, util: 94, bus: '00000000:2A:00.0' },
  { fan: 'N/A', temp: 34, perf: 'P0', power: 87, mem: 4, util: 0, bus: '00000000:9A:00.0' },
  { fan: 'N/A', temp: 44, perf: 'P0', power: 355, mem: 71236, util: 100, bus: '00000000:AB:00.0' },
];
const PROCESSES = [
  { gpu: 0, pid: 48213, name: 'python train.py --model qwen2-7b', mem: 61428 },
  { gpu: 1, pid: 48213, name: 'python train.py --model qwen2-7b', mem: 61428 },
  { gpu: 3, pid: 51877, name: 'vllm serve /models/llama3-8b', mem: 71224 },
];

/** A plausible `nvidia-smi` for a node with four A800 80GB cards (numbers are made up). */
export function nvidiaSmi(now: Date): string {
  const rule = '+-----------------------------------------+------------------------+----------------------+';
  const lines = [
    formatDate(now),
    '+-----------------------------------------------------------------------------------------+',
    '| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |',
    rule,
    '| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |',
    '| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |',
    '|                                         |                        |               MIG M. |',
    rule.replaceAll('-', '='),
  ];
  GPUS.forEach((g, i) => {
    const name = `${String(i).padStart(3)}  NVIDIA A800-SXM4-80GB          On`;
    lines.push(
      `| ${name.padEnd(39)} | ${(g.bus + ' Off').padStart(22)} | ${'0'.padStart(20)} |`,
      `| ${`${g.fan.padStart(4)}   ${g.temp}C    ${g.perf}`.padEnd(25)}${`${g.power}W /  400W`.padStart(14)} | ` +
        `${`${g.mem}MiB /  81920MiB`.padStart(22)} | ${`${g.util}%`.padStart(7)}      Default |`,
      `| ${''.padEnd(39)} | ${''.padEnd(22)} | ${'Disabled'.padStart(20)} |`,
      rule,
    );
  });
  lines.push(
    '',
    '+-----------------------------------------------------------------------------------------+',
    '| Processes:                                                                              |',
    '|  GPU   GI   CI        PID   Type   Process name                              GPU Memory |',
    '|        ID   ID                                                               Usage      |',
    '|=========================================================================================|',
    ...PROCESSES.map(
      (p) =>
        `| ${String(p.gpu).padStart(4)}   N/A  N/A  ${String(p.pid).padStart(9)}      C   ` +
        `${p.name.padEnd(40)} ${`${p.mem}MiB`.padStart(10)} |`,
    ),
    '+-----------------------------------------------------------------------------------------+',
  );
  return lines.join('\r\n');
}
