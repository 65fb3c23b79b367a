import type { TestContext } from 'node:test';
import { adminFeature, type AdminFeatureOptions } from '../../gateway/admin/adminFeature.ts';
import { newApiKey } from '../../gateway/auth/apiKeys.ts';
import { type StartedGateway, startGateway } from '../helpers/gateway.ts';
import { type RawResponse, send } from '../helpers/http.ts';

export const keys = {
  ci: newApiKey('ci'),
  reader: newApiKey('reader'),
  brand: newApiKey('brand'),
  support: newApiKey('support'),
};

/** routes.yaml with one route and the test keys; `admin` lines go inside `admin:`. */
export function routesYaml(upstream: string, o: { admin?: string; extra?: string } = {}): string {
  return `# Portico routes — deployed by CI
routes:
  - { id: app, path: /, upstream: "${upstream}" }   # the customer system
admin:
  apiKeys:
    - { id: ci, hash: "${keys.ci.hash}", scopes: [config:read, config:write] }
    - { id: reader, hash: "${keys.reader.hash}", scopes: [config:read] }
    - { id: brand, hash: "${keys.brand.hash}", scopes: [branding:write] }
    - { id: support, hash: "${keys.support.hash}", scopes: [sessions:revoke] }
${o.admin ?? ''}${o.extra ?? ''}`;
}

export async function startAdminGateway(
  t: TestContext,
  yaml: string,
  options: AdminFeatureOptions = {},
): Promise<StartedGateway> {
  return startGateway(t, yaml, { features: [adminFeature(options)] });
}

export function api(
  base: string,
  method: string,
  path: string,
  o: { key?: string; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.key) headers.authorization = `Bearer ${o.key}`;
  return send(base, `/_portico/admin/${path}`, { method, headers, body: o.body });
}
