import type { NotificationEventType } from '../config/opsSchema.ts';

export type { NotificationEventType };

export type ConfigProblemSummary = { path: string; line?: number; message: string };

/** What each event carries (also the `data` of the generic webhook's JSON). */
export type EventData = {
  'upstream.down': { route: string; upstream: string; error: string; failures: number };
  'upstream.up': { route: string; upstream: string; downtimeMs?: number };
  'config.reloaded': { file?: string; hash?: string; routes?: number };
  'config.rejected': { file?: string; problems: ConfigProblemSummary[] };
  'auth.failure_burst': {
    count: number;
    windowMs: number;
    idps: string[];
    ips: string[];
    /** The names typed at the sign-in form (at most 64 characters each): unverified, anyone's text. */
    users: string[];
  };
  'admin.change': { actor?: string; action: string; ip?: string; detail?: string };
};

export type AlertEvent<T extends NotificationEventType = NotificationEventType> = {
  [K in T]: {
    type: K;
    /**
     * What the event is about (`upstream:ai`, `config`, `auth`). Events about one subject within
     * a sink's dedup window are merged: only the newest is delivered, when the window ends, and
     * only if it says something else than the last delivery (flapping).
     */
    subject: string;
    /** Same subject and same fingerprint = the same news. */
    fingerprint: string;
    time: Date;
    /** Which gateway speaks (publicUrl host or host name). */
    source: string;
    data: EventData[K];
    /** How many events this delivery stands for (set when flapping was merged). */
    merged?: number;
  };
}[T];

export type NewEvent = Omit<AlertEvent, 'time' | 'source' | 'fingerprint'> & {
  fingerprint?: string;
  time?: Date;
};
