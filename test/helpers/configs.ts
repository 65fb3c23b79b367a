/**
 * routes.yaml texts more than one suite reads. Each is the set-up a deployment would write, so a
 * change to what it means shows in every suite that relies on it.
 */

/** The AI platform route as the seed nginx set-up forwards it: a self-signed upstream, WebSockets. */
export const AI_PLATFORM_ROUTE = `  - id: ai-platform
    path: /dce5/
    upstream: https://10.6.8.2:30343/
    tls: { insecureSkipVerify: true }
    websocket: true
`;

/**
 * The deployment `portico explain` and explainRequest are asked about: two OIDC providers, an API
 * key, the AI platform behind a group rule with identity injected, its APIs public, a bearer API
 * and the customer site. The secrets are given as they appear in the file (a value or `${ENV}`).
 */
export function explainYaml(secrets: { session: string; oidc: string }): string {
  return `publicUrl: https://portal.example.com
trustProxy: [10.0.0.0/8]
session: { secret: "${secrets.session}" }
identityProviders:
  - { id: corp, type: oidc, issuer: https://idp.example.com, clientId: portico, clientSecret: "${secrets.oidc}" }
  - { id: partner, type: oidc, issuer: https://partner.example.com, clientId: portico }
identity: { primaryProvider: corp }
apiKeys:
  - { id: ci, hash: "sha256:${'0'.repeat(64)}", groups: [ai-users] }
routes:
${AI_PLATFORM_ROUTE}    allow: { groups: [ai-users] }
    keycloakIdpHint: portico
    inject: { headers: true, jwt: true }
  - { id: ai-apis, path: /dce5/apis/, upstream: "https://10.6.8.2:30343/apis/", auth: none }
  - { id: api, path: /api/, upstream: "http://10.0.0.9:8000/", auth: required, bearer: verify }
  - { id: customer, path: /, upstream: "https://10.6.165.50:30443/", auth: optional }
`;
}
