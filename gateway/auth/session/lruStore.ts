import session from 'express-session';
import { LRUCache } from 'lru-cache';

type Data = session.SessionData;

/**
 * The `store: memory` session store: bounded (least recently used sessions go first) and every
 * entry expires, so it cannot grow without limit like express-session's MemoryStore.
 */
export class LruSessionStore extends session.Store {
  private readonly cache: LRUCache<string, string>;

  constructor(options: { max: number; ttlMs: number }) {
    super();
    this.cache = new LRUCache<string, string>({
      max: options.max,
      ttl: options.ttlMs,
      updateAgeOnGet: false,
    });
  }

  override get(sid: string, cb: (err: unknown, data?: Data | null) => void): void {
    const raw = this.cache.get(sid);
    cb(null, raw ? (JSON.parse(raw) as Data) : null);
  }

  override set(sid: string, data: Data, cb?: (err?: unknown) => void): void {
    this.cache.set(sid, JSON.stringify(data));
    cb?.();
  }

  override destroy(sid: string, cb?: (err?: unknown) => void): void {
    this.cache.delete(sid);
    cb?.();
  }

  override touch(sid: string, data: Data, cb?: () => void): void {
    this.cache.set(sid, JSON.stringify(data));
    cb?.();
  }

  get size(): number {
    return this.cache.size;
  }
}
