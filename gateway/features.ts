import { operations } from './ops/operations.ts';
import type { FeatureFactory } from './server.ts';

/**
 * The features `portico serve` and the demo start beside the core, in order: metrics, health
 * checks, alerts, audit and Sentry (operations). Each reads the live config, so a feature whose
 * keys are absent from routes.yaml stays idle.
 */
export function defaultFeatures(): FeatureFactory[] {
  return [operations];
}
