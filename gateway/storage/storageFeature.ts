import { dirname, resolve } from 'node:path';
import type { RawStorageConfig } from '../config/adminSchema.ts';
import { parseDuration } from '../config/duration.ts';
import { parseSize } from '../config/size.ts';
import type { Config } from '../config/types.ts';
import type { FeatureFactory } from '../server.ts';
import { type AuditArchive, type AuditArchiveStats, startAuditArchive } from './auditArchive.ts';
import { cachedBrandAssets, type WritableBrandAssetSource, writableDiskAssets } from './brandAssets.ts';
import { createObjectStore, type ObjectStore } from './objectStore.ts';

export type StorageFeature = {
  feature: FeatureFactory;
  /**
   * Brand files for the branding module and the admin API: object storage (read through the disk
   * cache) when `storage:` is configured, otherwise the branding folder. Usable once the gateway
   * has started this feature, so list it before branding and admin.
   */
  brandAssets: WritableBrandAssetSource;
};

/** Relative storage paths are relative to the folder of routes.yaml, like every other path in it. */
function baseDirOf(config: Config): string {
  return config.file ? dirname(config.file) : process.cwd();
}

/**
 * `storage:` in routes.yaml: the object store for brand assets (shared by replicas) and the
 * audit-log archive. A changed `storage:` (rotated credentials, new endpoint) takes effect on
 * reload; `cacheDir` and `spoolDir` are read once at start.
 */
export function storageFeature(options: { brandingDir?: string } = {}): StorageFeature {
  let source: WritableBrandAssetSource | undefined;
  const started = () => {
    if (!source) throw new Error('the storage feature has not started');
    return source;
  };
  const brandAssets: WritableBrandAssetSource = {
    get label() {
      return source?.label ?? 'storage (not started)';
    },
    // The visitor flag too: a name only a visitor asked for is then neither watched nor kept.
    get: (name, o) => started().get(name, o),
    put: (name, body) => started().put(name, body),
    watch: (onChange, onError) => started().watch?.(onChange, onError) ?? (() => {}),
  };

  const feature: FeatureFactory = (ctx) => {
    const initial = ctx.config();
    const raw = initial.raw.storage as RawStorageConfig | undefined;
    const base = baseDirOf(initial);
    if (!raw) {
      source = writableDiskAssets(resolve(base, options.brandingDir ?? 'branding'));
      return { name: 'storage' };
    }

    let store: ObjectStore = createObjectStore(raw);
    let storeKey = JSON.stringify(raw);
    const currentStore = (): ObjectStore => {
      const now = ctx.config().raw.storage as RawStorageConfig | undefined;
      const key = JSON.stringify(now);
      if (now && key !== storeKey) {
        store.destroy();
        store = createObjectStore(now);
        storeKey = key;
        ctx.log.info({ provider: now.provider, bucket: now.bucket }, 'storage settings changed');
      }
      return store;
    };

    source = cachedBrandAssets({
      store: currentStore,
      cacheDir: resolve(base, raw.cacheDir ?? '.portico/cache'),
      prefix: raw.branding?.prefix,
      refreshMs: parseDuration(raw.branding?.refresh ?? '60s'),
      log: ctx.log,
    });

    let archive: AuditArchive | undefined;
    if (raw.auditArchive?.enabled !== false) {
      archive = startAuditArchive({
        events: ctx.events,
        store: currentStore,
        spoolDir: resolve(base, raw.spoolDir ?? '.portico/spool'),
        intervalMs: parseDuration(raw.auditArchive?.interval ?? '60s'),
        maxEvents: raw.auditArchive?.maxEvents,
        prefix: raw.auditArchive?.prefix,
        maxSpoolBytes: parseSize(raw.auditArchive?.maxSpoolSize ?? '256m'),
        log: ctx.log,
      });
    }
    ctx.log.info(
      { provider: raw.provider, bucket: raw.bucket, auditArchive: archive !== undefined },
      'object storage configured',
    );

    return {
      name: 'storage',
      // Storage being down never makes the gateway unready: assets serve from the cache and
      // audit batches wait in the spool. Nor does a full spool (anyone's failed sign-ins fill it
      // while the bucket is down: unready would take the site down with it); `spoolFull` and
      // `dropped` say it. The numbers are here for whoever looks.
      readiness: async () => ({
        ok: true,
        provider: raw.provider,
        // Counts only: a store's error text can name its endpoint, an account or a policy ARN,
        // and this answer is public; the log has it.
        ...(archive ? { auditArchive: publicArchiveStats(archive.stats()) } : {}),
      }),
      async close() {
        await archive?.close();
        store.destroy();
      },
    };
  };

  return { feature, brandAssets };
}

function publicArchiveStats(s: AuditArchiveStats) {
  const { lastError, ...counts } = s;
  return { ...counts, failing: lastError !== undefined };
}
