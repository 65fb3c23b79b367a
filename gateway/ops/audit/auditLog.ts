import { pino } from 'pino';
import type { AuditConfig } from '../../config/opsSchema.ts';
import { redactSecrets } from './redact.ts';

export const AUDIT_TYPES = [
  'login.success',
  'login.failure',
  'logout',
  'access.denied',
  'config.reloaded',
  'config.rejected',
  'admin.change',
  'admin.auth_failure',
] as const;
export type AuditType = (typeof AUDIT_TYPES)[number];

/** One audit line. The schema is stable: these keys, nothing else; absent ones are left out. */
export type AuditEntry = {
  type: AuditType;
  actor?: string;
  ip?: string;
  route?: string;
  idp?: string;
  result?: string;
  detail?: unknown;
};

export type AuditLog = { write(entry: AuditEntry): void; close(): void };

type SonicBoom = ReturnType<typeof pino.destination>;

/**
 * The audit stream: JSON lines `{ time, type, actor?, ip?, route?, idp?, result?, detail? }` on
 * pino destinations of their own, apart from the operational log (no level, pid or msg), to a file
 * (appended, written synchronously: an audit line must not be lost in a crash) and/or stdout.
 */
export function createAuditLog(settings: AuditConfig): AuditLog {
  const streams: SonicBoom[] = [];
  const toStdout = settings.stdout ?? !settings.file;
  if (settings.file)
    streams.push(pino.destination({ dest: settings.file, mkdir: true, sync: true, append: true }));
  if (toStdout) streams.push(pino.destination({ dest: 1, sync: true }));
  return {
    write(entry) {
      const line: Record<string, unknown> = { time: new Date().toISOString(), type: entry.type };
      for (const k of ['actor', 'ip', 'route', 'idp', 'result'] as const) {
        const v = entry[k];
        if (typeof v === 'string' && v) line[k] = v.slice(0, 512);
      }
      if (entry.detail !== undefined) line.detail = redactSecrets(entry.detail);
      const text = `${JSON.stringify(line)}\n`;
      for (const s of streams) s.write(text);
    },
    close() {
      streams.forEach((s, i) => {
        try {
          s.flushSync();
        } catch {}
        // stdout stays open for the rest of the process.
        if (!(toStdout && i === streams.length - 1)) s.end();
      });
    },
  };
}
