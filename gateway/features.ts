import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { adminFeature } from './admin/adminFeature.ts';
import { brandingFeature } from './branding/brandingFeature.ts';
import { oidcProviderFeature } from './oidcProvider/oidcProviderFeature.ts';
import { operations } from './ops/operations.ts';
import type { FeatureFactory } from './server.ts';
import { storageFeature } from './storage/storageFeature.ts';

/**
 * The features `portico serve` and the demo start beside the core, in order: object storage
 * (branding assets, audit archive), branding and navigation, the admin API, the OpenID Provider,
 * and operations (metrics, health checks, alerts, audit, Sentry). Each reads the live config, so a
 * feature whose keys are absent from routes.yaml stays idle (and a reload that adds them wakes it).
 */
export function defaultFeatures(options: {
  configFile: string;
  brandingDir?: string;
  hasStorage: boolean;
}): FeatureFactory[] {
  // An explicit --branding folder must hold a brand.yaml; next to routes.yaml it is optional, and
  // Portico's own default brand is used when there is none.
  const beside = join(dirname(resolve(options.configFile)), 'branding');
  const brandingDir =
    options.brandingDir ??
    (existsSync(join(beside, 'brand.yaml')) ? beside : join(import.meta.dirname, '..', 'branding'));
  const storage = storageFeature({ brandingDir });
  // Without object storage the branding folder is read directly, so a broken brand.yaml stops the start.
  const source = options.hasStorage ? storage.brandAssets : undefined;
  return [
    storage.feature,
    brandingFeature({ dir: brandingDir, source }),
    adminFeature({ branding: { dir: brandingDir, source } }),
    oidcProviderFeature,
    operations,
  ];
}
