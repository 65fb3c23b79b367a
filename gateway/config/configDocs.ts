/**
 * What each routes.yaml key means, and its default, by the key's path in the schema
 * (`routes[].timeouts.connect`; the keys of one kind of identity provider as
 * `identityProviders[ldap].url`, or `identityProviders[].clientId` for every kind that has it).
 * Kept beside schema.ts rather than inside it, so the schema stays a readable list of shapes; the
 * editors' JSON Schema (schemas/routes.schema.json) and the reference (docs/configuration.md)
 * are generated from both, and a test fails when a key has no entry here or an entry names no key.
 * A default is what the gateway uses when the key is absent (test/reference checks those that
 * the config compiler applies).
 */
export type KeyDoc = { description: string; default?: unknown };

const allow = (who: string): Record<string, KeyDoc> => ({
  '': {
    description: `Who may ${who}: a user passes when ANY listed rule matches. Rules about users of identity providers other than the primary one are written qualified, \`<idp>:<value>\` — their users, groups, emails, domains and claim names (\`partner:alice\`, \`github:corp.example\`); a bare rule never admits another provider's user.`,
  },
  groups: { description: 'Group names; a user in any of them passes.' },
  emails: {
    description:
      'Email addresses, compared whole and case-insensitively. An address the provider says it did not verify (`email_verified: false`) never counts; one it says nothing about counts from OIDC providers (Entra ID and ADFS never say), and from LDAP and SAML only with `trustEmail: true`.',
  },
  domains: {
    description:
      'Email domains of verified addresses (as `emails`): `example.com` matches that domain exactly, `.example.com` it and its subdomains.',
  },
  users: { description: 'User names (qualified `<idp>:<name>` for a provider that is not the primary one).' },
  idps: { description: 'Identity provider ids: anyone signed in through one of them passes.' },
  claims: {
    description:
      'Claims of the sign-in (ID token or userinfo) and the values that pass: `{ department: [ai, research] }`, `{ vip: true }`; `{ "partner:department": ai }` for another provider\'s users.',
  },
});
const prefixed = (prefix: string, docs: Record<string, KeyDoc>) =>
  Object.fromEntries(Object.entries(docs).map(([k, v]) => [k === '' ? prefix : `${prefix}.${k}`, v]));

export const CONFIG_DOCS: Record<string, KeyDoc> = {
  listen: { description: 'Where the gateway listens. Read at start: a change needs a restart.' },
  'listen.host': { description: 'The address to listen on.', default: '0.0.0.0' },
  'listen.port': { description: 'The port to listen on.', default: 8080 },
  'listen.tls': {
    description:
      'Terminate TLS here (HTTPS): without it Portico speaks plain HTTP, usually behind a load balancer.',
  },
  'listen.tls.cert': {
    description: 'The certificate chain: a PEM file (relative to routes.yaml) or PEM text.',
  },
  'listen.tls.key': { description: 'The private key: a PEM file (relative to routes.yaml) or PEM text.' },
  'listen.tls.http2': {
    description:
      'Offer HTTP/2 (ALPN `h2`) beside HTTP/1.1 on the TLS listener. HTTP/1.1 clients and WebSocket upgrades keep working on the same port either way; upstreams are always spoken to in HTTP/1.1. `false` offers only `http/1.1`.',
    default: true,
  },
  publicUrl: {
    description:
      'The origin users browse to (`https://portal.example.com`): login callbacks, redirects, the OpenID Provider issuer, Secure cookies when https, the WebSocket Origin check. Required once identity providers are configured.',
  },
  trustProxy: {
    description:
      '`true`, or the addresses/CIDRs of the load balancers in front of Portico: only from these are X-Forwarded-For, -Proto and -Host believed.',
    default: false,
  },

  session: {
    description: 'Browser sessions. Read at start: a change needs a restart.',
  },
  'session.secret': {
    description:
      'Signs the session cookie and the forms; at least 32 characters, from the environment (`${SESSION_SECRET}`). A list (newest first) rotates it: old cookies stay valid. Required with identity providers.',
  },
  'session.store': {
    description:
      '`memory`: one instance, a bounded LRU. `redis`: shared by every replica (needed with more than one).',
    default: 'memory',
  },
  'session.redis': {
    description:
      'The Redis for sessions, sign-ins, throttles, the SAML replay cache and signing keys: exactly one of `url`, `host`, `sentinels` or `cluster`.',
  },
  'session.redis.url': { description: '`redis://[:password@]host:6379/0`, or `rediss://` for TLS.' },
  'session.redis.host': { description: 'The Redis host (instead of `url`).' },
  'session.redis.port': { description: 'The Redis port, with `host`.', default: 6379 },
  'session.redis.username': { description: 'The Redis ACL user.' },
  'session.redis.password': { description: 'The Redis password, from the environment.' },
  'session.redis.db': { description: 'The database number.', default: 0 },
  'session.redis.tls': { description: '`true`, or TLS settings for the connection to Redis.' },
  'session.redis.tls.ca': { description: 'The CA that signed the Redis certificate: PEM text or a file.' },
  'session.redis.tls.serverName': { description: 'The name to check the Redis certificate against.' },
  'session.redis.tls.insecureSkipVerify': {
    description: 'Accept any Redis certificate (testing only).',
    default: false,
  },
  'session.redis.keyPrefix': {
    description:
      'Prefix of every key Portico writes; replicas of one deployment share it, two deployments on one Redis must not.',
    default: 'portico:',
  },
  'session.redis.sentinels': { description: 'Redis Sentinel addresses (with `name`).' },
  'session.redis.sentinels[].host': { description: 'A sentinel host.' },
  'session.redis.sentinels[].port': { description: 'A sentinel port (usually 26379).' },
  'session.redis.name': { description: 'The Sentinel master name, such as `mymaster`.' },
  'session.redis.sentinelUsername': { description: 'The user for the sentinels, when they need one.' },
  'session.redis.sentinelPassword': { description: 'The password for the sentinels, when they need one.' },
  'session.redis.cluster': { description: 'Redis Cluster nodes to start from.' },
  'session.redis.cluster[].host': { description: 'A cluster node host.' },
  'session.redis.cluster[].port': { description: 'A cluster node port.' },
  'session.redis.connectTimeout': { description: 'How long to wait for a connection.', default: '2s' },
  'session.redis.commandTimeout': {
    description:
      'How long to wait for a command; past it, `auth: required` routes answer 503 (logged as one line every 30 s while it lasts). A connection that answers nothing for twice this long is dropped and made again, so a silent network cut heals without a restart.',
    default: '2s',
  },
  'session.maxAge': { description: 'A session ends this long after sign-in, used or not.', default: '8h' },
  'session.idleTimeout': { description: 'A session ends after this long without a request.', default: '2h' },
  'session.cookieName': {
    description:
      'The session cookie (never forwarded to an upstream). Unset, it is `__Host-portico_session` with an https publicUrl — browsers refuse a cookie of that name planted by a sibling subdomain or for a narrower path; Portico sets it Secure, Path=/, without Domain — and `portico_session` on plain http or without publicUrl. A name set here is used as it is (one without `__Host-` can be planted by a sibling subdomain). Upgrading from a version that named it `portico_session` on https ends every session once; set `portico_session` here to keep them.',
    default: '__Host-portico_session',
  },
  'session.maxEntries': {
    description: 'With `store: memory`: how many sessions are kept (least recently used go first).',
    default: 10000,
  },
  'session.cacheTtl': {
    description:
      'How long a replica trusts a session it read from the store; a revocation takes effect within it.',
    default: '1s',
  },
  'session.terminalCheck': {
    description:
      'How often the sessions of open WebSockets (terminals) are looked for in the store: one the store lost without a sign-out being announced (FLUSHALL, a Redis restart that kept nothing, eviction under `maxmemory`, a key deleted by hand) closes its terminals within this time. The idle timeout is not applied to a terminal in use. Between 100ms and 24h.',
    default: '60s',
  },

  identityProviders: {
    description: 'The ways to sign in, any number at once behind the login chooser (`/_portico/login`).',
  },
  'identityProviders[].id': {
    description:
      'A short id (lower-case letters, digits, `-`, `_`): in the callback URL (`/_portico/callback/<id>`), in qualified names (`<id>:alice`), logs and metrics.',
  },
  'identityProviders[].type': { description: 'The kind of identity provider.' },
  'identityProviders[].name': {
    description: 'The label on the login chooser: a string or `{ zh-CN, en-US }`.',
  },
  'identityProviders[].clientId': { description: 'The client id registered at the identity provider.' },
  'identityProviders[].clientSecret': { description: 'The client secret, from the environment.' },
  'identityProviders[].trustEmail': {
    description:
      "Whether this provider's e-mail addresses count as verified: for `allow` rules on emails and domains, and where Portico releases `email_verified` (its OpenID Provider: a client such as DCE 5's Keycloak may link accounts by a verified e-mail). Without it Portico releases `email_verified: true` only for an address the provider itself says it verified (OIDC `email_verified: true`, GitHub's verified primary address), and `allow` rules count addresses of LDAP and SAML users not at all; OIDC addresses the provider says nothing about (Entra ID, ADFS) count for `allow` rules either way. It also decides which addresses reach upstreams (`X-Forwarded-Email`, the assertion's `email`, which applications key accounts on): the primary provider's addresses that `allow` rules would count, and another provider's only with `trustEmail: true` (a partner IdP can say its user is anyone's address, and an address cannot be qualified `<idp>:` as names are). Set it only for a directory whose users cannot edit their own address.",
    default: false,
  },
  'identityProviders[].claims': {
    description: 'Which claims of the ID token (or userinfo) make the identity.',
  },
  'identityProviders[].claims.username': {
    description:
      'The claim for the user name (then `preferred_username`, `nickname`, `email`, `sub` are tried).',
    default: 'preferred_username',
  },
  'identityProviders[gitlab].claims.username': {
    description: 'The claim for the user name.',
    default: 'nickname',
  },
  'identityProviders[].claims.email': { description: 'The claim for the email address.', default: 'email' },
  'identityProviders[].claims.name': { description: 'The claim for the display name.', default: 'name' },
  'identityProviders[].claims.groups': {
    description: 'The claim for the groups (a list, or a comma/space separated string).',
    default: 'groups',
  },
  'identityProviders[gitlab].claims.groups': {
    description: 'The claim for the groups (full group paths).',
    default: 'groups_direct',
  },
  'identityProviders[].issuer': {
    description: 'The issuer URL; its `/.well-known/openid-configuration` is read at start (and retried).',
  },
  'identityProviders[google].issuer': {
    description: 'Google’s issuer (change only for a test double).',
    default: 'https://accounts.google.com',
  },
  'identityProviders[].scopes': {
    description:
      'Scopes asked for. Ask for `groups` only if the provider knows that scope (Keycloak refuses unknown scopes: map groups into the token instead); `offline_access` for refresh tokens.',
    default: ['openid', 'profile', 'email'],
  },
  'identityProviders[github].scopes': {
    description: 'OAuth scopes asked for; `read:org` is added when organisations or teams are needed.',
    default: ['read:user', 'user:email'],
  },
  'identityProviders[google].scopes': {
    description: 'Scopes asked for.',
    default: ['openid', 'email', 'profile'],
  },
  'identityProviders[].audiences': {
    description:
      'With `bearer: verify`: the `aud` values that make an access token meant for Portico. Without it, a token must be issued to Portico’s own client (`azp`/`client_id`).',
  },
  'identityProviders[].authorizationParams': {
    description:
      'Extra query parameters for the authorization request (`{ prompt: login }`, `{ kc_idp_hint: corp }`).',
  },
  'identityProviders[].userinfo': {
    description:
      'Also read the userinfo endpoint at sign-in (for claims the ID token lacks, such as groups).',
    default: false,
  },
  'identityProviders[].url': {
    description: 'The directory: `ldaps://host:636`, or `ldap://host:389` (with `startTls`).',
  },
  'identityProviders[].startTls': {
    description:
      'Upgrade an `ldap://` connection with StartTLS. Without it (or `ldaps://`) passwords cross the network in clear text: Portico warns at start and at every reload when the directory is not on this machine.',
    default: false,
  },
  'identityProviders[].tls': { description: 'TLS towards the directory.' },
  'identityProviders[].tls.ca': { description: 'The CA of the directory’s certificate: PEM text or a file.' },
  'identityProviders[].tls.insecureSkipVerify': {
    description: 'Accept any certificate (testing only).',
    default: false,
  },
  'identityProviders[].tls.serverName': { description: 'The name to check the certificate against.' },
  'identityProviders[].bindDn': {
    description: 'The service account that searches for users (omit for anonymous search).',
  },
  'identityProviders[].bindPassword': {
    description: 'The service account’s password, from the environment.',
  },
  'identityProviders[].userBase': {
    description: 'Where users are searched, e.g. `ou=people,dc=example,dc=com`.',
  },
  'identityProviders[].userFilter': {
    description:
      'The search for the user typed in, with `{username}` (escaped, RFC 4515). Default `(uid={username})`, or `(sAMAccountName={username})` with `activeDirectory`.',
  },
  'identityProviders[].groupBase': {
    description:
      'Where groups are searched (default: `userBase`). Set with `memberOf: true`, only groups below it count.',
  },
  'identityProviders[].groupFilter': {
    description: 'The search for the user’s groups, with `{dn}` or `{username}`.',
    default: '(member={dn})',
  },
  'identityProviders[].groupNameAttribute': {
    description: 'The attribute that names a group.',
    default: 'cn',
  },
  'identityProviders[].memberOf': {
    description: 'Read groups from the user’s `memberOf` instead of searching.',
    default: false,
  },
  'identityProviders[].nestedGroups': {
    description:
      'Follow groups in groups: `true` (Active Directory’s in-chain rule with `activeDirectory`, else recursive searches), `in-chain` or `recursive`.',
    default: false,
  },
  'identityProviders[].nestedGroupsDepth': {
    description: 'How deep recursive group searches go.',
    default: 5,
  },
  'identityProviders[].activeDirectory': {
    description:
      'Active Directory defaults: sAMAccountName, displayName, the in-chain rule for nested groups.',
    default: false,
  },
  'identityProviders[].attributes': { description: 'Which attributes make the identity.' },
  'identityProviders[ldap].attributes.username': {
    description: 'The user name attribute (`uid`, or `sAMAccountName` with `activeDirectory`).',
  },
  'identityProviders[ldap].attributes.email': { description: 'The email attribute.', default: 'mail' },
  'identityProviders[ldap].attributes.name': {
    description: 'The display name attribute (`cn`, or `displayName` with `activeDirectory`).',
  },
  'identityProviders[].timeout': { description: 'Connect and operation timeout.', default: '5s' },
  'identityProviders[].throttle': {
    description:
      'Failed sign-ins allowed before the form refuses for a while (shared by replicas through Redis).',
  },
  'identityProviders[].throttle.maxPerUser': {
    description: 'Failures per user name within the window.',
    default: 5,
  },
  'identityProviders[].throttle.maxPerIp': {
    description: 'Failures per client address within the window.',
    default: 20,
  },
  'identityProviders[].throttle.window': {
    description: 'Counted from the first attempt; a sign-in that succeeds gives its attempt back.',
    default: '15m',
  },
  'identityProviders[].entryPoint': { description: 'The IdP’s single sign-on URL (HTTP-Redirect binding).' },
  'identityProviders[saml].issuer': {
    description: 'Portico’s entity id at the IdP (default `<publicUrl>/_portico/saml/<id>`).',
  },
  'identityProviders[].idpCert': {
    description: 'The IdP’s signing certificate(s): PEM text or a file; a list during a rollover.',
  },
  'identityProviders[].idpIssuer': {
    description: 'The IdP’s entity id; when set, a response from another issuer is refused.',
  },
  'identityProviders[].audience': {
    description: 'The audience assertions must name (default: Portico’s entity id).',
  },
  'identityProviders[].wantAssertionsSigned': {
    description: 'Require a signed assertion (at least one of assertion or response must be signed).',
    default: true,
  },
  'identityProviders[].wantAuthnResponseSigned': {
    description: 'Require a signed response.',
    default: false,
  },
  'identityProviders[].signatureAlgorithm': {
    description: 'The algorithm Portico signs requests with.',
    default: 'sha256',
  },
  'identityProviders[].privateKey': {
    description: 'Portico’s key to sign authentication and logout requests: PEM text or a file.',
  },
  'identityProviders[].cert': {
    description: 'The certificate of `privateKey`, published in the SP metadata.',
  },
  'identityProviders[].identifierFormat': { description: 'The NameID format to ask for (none by default).' },
  'identityProviders[].disableRequestedAuthnContext': {
    description:
      'Do not ask for a password-based authentication context (ADFS with Windows sign-in needs this).',
    default: false,
  },
  'identityProviders[saml].attributes.username': {
    description: 'The attribute for the user name (then `uid`, `username`, the uid OID, then the NameID).',
  },
  'identityProviders[saml].attributes.email': {
    description: 'The attribute for the email (then `email`, `mail` and the usual URIs).',
  },
  'identityProviders[saml].attributes.name': {
    description: 'The attribute for the display name (then `displayName`, `name`, `cn` and the usual URIs).',
  },
  'identityProviders[].attributes.groups': {
    description:
      'The attribute for the groups (then `groups`, `memberOf` and the ADFS/Entra group claim URIs).',
  },
  'identityProviders[].acceptedClockSkew': {
    description: 'Clock difference tolerated on time conditions.',
    default: '30s',
  },
  'identityProviders[].maxAssertionAge': {
    description: 'Refuse assertions older than this (0: no limit).',
    default: 0,
  },
  'identityProviders[].logoutUrl': { description: 'The IdP’s single logout URL (default: `entryPoint`).' },
  'identityProviders[].baseUrl': {
    description: 'The server for GitHub Enterprise (`https://github.example.com`) or a self-managed GitLab.',
    default: 'https://github.com',
  },
  'identityProviders[gitlab].baseUrl': {
    description: 'The GitLab server (its issuer).',
    default: 'https://gitlab.com',
  },
  'identityProviders[].apiUrl': {
    description: 'The REST API root (default: api.github.com, api.<tenant>.ghe.com, or `<baseUrl>/api/v3`).',
  },
  'identityProviders[].allowedOrganizations': {
    description: 'Only members of one of these organisations may sign in.',
  },
  'identityProviders[].allowedTeams': {
    description: 'Only members of one of these teams (`org/team-slug`) may sign in.',
  },
  'identityProviders[].fetchGroups': {
    description: 'Read organisations and teams as groups even when no membership is required.',
    default: false,
  },
  'identityProviders[].hostedDomain': {
    description:
      'Only Google Workspace accounts of these domains (checked on the signed `hd` claim; the address must be verified).',
  },
  'identityProviders[].allowedGroups': {
    description: 'Only members of one of these groups (full paths) may sign in.',
  },

  identity: { description: 'What upstreams receive about the user, and how names are qualified.' },
  'identity.primaryProvider': {
    description:
      'The identity provider whose users and groups keep bare names (default: the only provider, if there is one). Everyone else’s are `<idp>:<name>`, in allow rules and headers.',
  },
  'identity.headers': {
    description: 'The names of the identity headers (stripped from every request in every spelling).',
  },
  'identity.headers.user': { description: 'The user name header.', default: 'X-Forwarded-User' },
  'identity.headers.email': { description: 'The email header.', default: 'X-Forwarded-Email' },
  'identity.headers.groups': {
    description: 'The groups header (comma-joined).',
    default: 'X-Forwarded-Groups',
  },
  'identity.headers.name': {
    description: 'The display name header.',
    default: 'X-Forwarded-Preferred-Username',
  },
  'identity.jwt': { description: 'The signed assertion (ES256 JWT) for routes with `inject.jwt`.' },
  'identity.jwt.header': { description: 'Its header.', default: 'X-Portico-Assertion' },
  'identity.jwt.ttl': { description: 'Its lifetime.', default: '60s' },
  'identity.jwt.keys': {
    description: 'Where the signing keys live. Read at start: a change needs a restart.',
  },
  'identity.jwt.keys.store': {
    description:
      '`redis` (the session store: every replica signs with the same keys), `file` or `memory`. Default: the session store, or `file` when `file` is set without Redis.',
  },
  'identity.jwt.keys.file': { description: 'The key file for `store: file`.' },
  'identity.jwt.keys.rotateEvery': {
    description:
      'A new key every so often; it is published five minutes before it signs, and old keys stay in the JWKS for an hour.',
    default: '24h',
  },

  routes: {
    description:
      'Where requests go: the routes of the request’s host, then the longest matching prefix, win. At least one route.',
  },
  'routes[].id': {
    description:
      'A short name (lower-case letters, digits, `-`, `_`): logs, metrics labels, the assertion’s audience.',
  },
  'routes[].path': {
    description:
      'The prefix. `/dce5/` is stripped: `/dce5/a?b` reaches the upstream as `/a?b`, and `/dce5` answers 301 to `/dce5/`. A prefix without a trailing slash matches whole segments only.',
  },
  'routes[].upstream': {
    description:
      'Where the route goes: `http(s)://host:port/base/`; the base path replaces the prefix. Required (or `upstreams`) unless the route has `respond`, `redirect` or `maintenance`.',
  },
  'routes[].upstreams': {
    description:
      'Several servers instead of one `upstream` (nginx `upstream { server …; }` with `proxy_next_upstream error timeout`): a request goes to one of them; a request without a body whose connection fails (refused, reset, timeout) before the answer is sent once more to another server (any idempotent method; any method when the connection was refused). See docs/route-policies.md.',
  },
  'routes[].upstreams.servers': {
    description:
      'The servers: URLs, or `{ url, weight, backup }`. All share one scheme and one base path (which replaces the prefix), and `tls` applies to each. With an active health check (`health`), each server is checked and one found down is not picked.',
  },
  'routes[].upstreams.servers[].url': { description: 'The server: `http(s)://host:port/base/`.' },
  'routes[].upstreams.servers[].weight': {
    description: 'Its share of the requests, against the others’ (nginx `weight`).',
    default: 1,
  },
  'routes[].upstreams.servers[].backup': {
    description: 'Used only while no other server is in (nginx `backup`).',
    default: false,
  },
  'routes[].upstreams.balance': {
    description:
      '`round-robin`: in turn, by weight; `least-conn`: the server with the fewest requests and WebSockets open, per weight (nginx `least_conn`).',
    default: 'round-robin',
  },
  'routes[].upstreams.maxFails': {
    description:
      'Failed connections (refused, reset, timeout, TLS) within `failTimeout` that leave a server out for `failTimeout` (nginx `max_fails`); `0`: never left out. When every server is out, they are all tried anyway.',
    default: 1,
  },
  'routes[].upstreams.failTimeout': {
    description:
      'The window in which `maxFails` failures are counted, and how long a server is then left out before it is tried again (nginx `fail_timeout`).',
    default: '10s',
  },
  'routes[].upstreams.sticky': {
    description:
      '`session`: a signed-in user’s requests go to one server (by the session), to another only while that one is out. Needs a route with a login.',
  },
  'routes[].host': {
    description:
      'The host this route serves: `ai.example.com`, or `*.example.com` (any depth, not the bare domain; no port). Like nginx server blocks: the exact host’s routes, else the longest pattern’s, else those without `host`. A named host is its own origin for sign-in and cookies (see docs/route-policies.md).',
  },
  'routes[].public': {
    description:
      'Paths under the route that need no login; no identity is passed on them. A path is public only when both the path as sent and as a lenient backend reads it are inside.',
  },
  'routes[].public[].path': { description: 'A path prefix under the route (`/dce5/apis/`).' },
  'routes[].public[].methods': {
    description:
      'Only these methods (`[GET, HEAD]`); default: every method. A request naming a method override in its query (`_method`, in any spelling a parser reads) counts as any method, and override headers are not passed on. A `_method` inside a POST body is out of Portico’s sight: behind a backend that honours one (Rails, Laravel, Symfony), a public POST can become another method there — list only the paths that accept any of them.',
  },
  'routes[].maxBodySize': {
    description:
      'This route’s largest request body (`512k`, `100m`, `10g`; `0`: none); over it, 413 before the upstream sees anything. Default: `limits.maxBodySize`.',
  },
  'routes[].rateLimit': {
    description:
      'Requests per fixed window on this route, or at once from one address; over it, 429 with `Retry-After`. The windows are counted in Redis when sessions are there (shared by replicas; if Redis does not answer, requests pass uncounted); `concurrentPerIp` in each process.',
  },
  'routes[].rateLimit.perIp': { description: 'Per client address (IPv6 by /64): `100/1m`.' },
  'routes[].rateLimit.perUser': { description: 'Per signed-in user: `600/1m`.' },
  'routes[].rateLimit.concurrentPerIp': {
    description:
      'Requests and open WebSockets one client address (IPv6 by /64) may have on this route at once (nginx `limit_conn`); the next gets 429. Counted per process, before the login. Default: no limit.',
  },
  'routes[].ipAllow': {
    description:
      'Only these client addresses or CIDRs (`10.0.0.0/8`), as `trustProxy` resolves the client; others get 403.',
  },
  'routes[].ipDeny': { description: 'These client addresses or CIDRs get 403; wins over `ipAllow`.' },
  'routes[].maintenance': {
    description:
      '`true` or an object: a branded 503 with `Retry-After` instead of the upstream. The admin API can switch it too (scope `routes:maintenance`).',
    default: false,
  },
  'routes[].maintenance.retryAfter': { description: 'How long, for `Retry-After` and the page (`10m`).' },
  'routes[].maintenance.message': { description: 'The page’s message: a string or `{ zh-CN, en-US }`.' },
  'routes[].respond': { description: 'Answer this, with no upstream.' },
  'routes[].respond.status': { description: 'The status code (required).' },
  'routes[].respond.body': {
    description: 'The body, as text (`text/plain` unless `headers` says otherwise).',
  },
  'routes[].respond.headers': { description: 'Headers of the answer (`{ content-type: text/plain }`).' },
  'routes[].redirect': { description: 'Redirect, with no upstream.' },
  'routes[].redirect.to': { description: 'The target: a path on this site or an absolute URL.' },
  'routes[].redirect.status': { description: '301, 302, 303, 307 or 308.', default: 302 },
  'routes[].redirect.keepPath': {
    description: 'Append what follows the prefix, and the query, to the target.',
    default: false,
  },
  'routes[].cors': { description: 'CORS preflights.' },
  'routes[].cors.allowPreflight': {
    description:
      'Let CORS preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) reach the upstream without a login.',
    default: false,
  },
  'routes[].headers': {
    description:
      'Headers to the upstream and on its answers. Identity headers, `Host` and framing headers are refused.',
  },
  'routes[].headers.request': { description: 'To the upstream (WebSocket upgrades too).' },
  'routes[].headers.request.set': { description: 'Set (replace) these: `{ X-Env: prod }`.' },
  'routes[].headers.request.remove': { description: 'Remove these names.' },
  'routes[].headers.response': { description: 'On the upstream’s answers (not Portico’s own pages).' },
  'routes[].headers.response.set': { description: 'Set (replace) these.' },
  'routes[].headers.response.remove': { description: 'Remove these names (`[Server]`).' },
  'routes[].securityHeaders': {
    description:
      'Add `X-Content-Type-Options: nosniff`, `Referrer-Policy: strict-origin-when-cross-origin`, `X-Frame-Options: SAMEORIGIN` and (publicUrl https) `Strict-Transport-Security`, where the upstream sent none.',
    default: false,
  },
  'routes[].tls': {
    description: 'TLS towards an https upstream. Unlike nginx, Portico verifies upstream certificates.',
  },
  'routes[].tls.insecureSkipVerify': {
    description: 'Accept any certificate (nginx’s default; for a self-signed DCE 5 prefer `ca`).',
    default: false,
  },
  'routes[].tls.ca': {
    description:
      'The CA (or the self-signed certificate) to trust: a PEM file relative to routes.yaml, or PEM text.',
  },
  'routes[].tls.serverName': {
    description: 'The name to check the certificate against (SNI), when the upstream URL is an address.',
  },
  'routes[].tls.cert': { description: 'A client certificate, for upstreams that ask for one (mutual TLS).' },
  'routes[].tls.key': { description: 'The client certificate’s key.' },
  'routes[].websocket': {
    description: 'Allow WebSocket upgrades (subprotocols such as cloudtty’s `tty` pass through).',
    default: false,
  },
  'routes[].preserveHost': {
    description: 'Send `Host` as the client sent it (nginx `$host`); `false` sends the upstream’s.',
    default: true,
  },
  'routes[].maxConnections': {
    description:
      'Connections Portico keeps open at most to each of the route’s upstream servers (nginx `max_conns`), one request on each at a time. A request that finds them all busy waits for one, up to `timeouts.idle` (then 504), and a warning names the route and server. Raise it for upstreams with many long answers at once (event streams, Kubernetes watches). Routes to the same server with the same TLS settings, connect timeout and `maxConnections` share one pool (and its connections); give a route of long answers its own value to keep it apart. WebSockets are not counted.',
    default: 256,
  },
  'routes[].timeouts': { description: 'Timeouts towards the upstream.' },
  'routes[].timeouts.connect': { description: 'To open a connection (then 504).', default: '5s' },
  'routes[].timeouts.idle': {
    description:
      'The longest silence on a response or a WebSocket (the nginx front door of DCE 5 uses 300s); also the longest pause of a client sending its body or reading the answer, after which the request is closed and its upstream connection freed (nginx client_body_timeout, send_timeout), and the longest wait for a free upstream connection (`maxConnections`). More than 0.',
    default: '60s',
  },
  'routes[].auth': {
    description:
      '`required`: sign-in needed; `optional`: the identity is passed when signed in; `none`: public, no identity. Default `none`, or `required` when the route has `allow`.',
  },
  'routes[].bearer': {
    description:
      '`passthrough`: Authorization belongs to the upstream and is forwarded as sent (DCE’s own tokens and access keys). `verify`: Portico accepts its identity providers’ access tokens and refuses other bearer tokens.',
    default: 'passthrough',
  },
  'routes[].bearerProviders': {
    description:
      'With `bearer: verify`: the identity providers whose access tokens this route accepts, asked in this order. Without it a JWT is checked against the provider that signed it, and an opaque token — which can only be asked about, handing it over — goes to the primary provider alone (or the only one that checks tokens). List a partner here to accept its opaque tokens: each listed provider may then be shown the tokens the ones before it refuse.',
  },
  'routes[].keycloakIdpHint': {
    description:
      'The alias of Portico (or the customer IdP) in the upstream’s Keycloak: `kc_idp_hint` is added to its authorization requests, so its login page is skipped.',
  },
  ...prefixed('routes[].allow', allow('open this route (others get 403; `allow` implies `auth: required`)')),
  'routes[].inject': { description: 'What the upstream receives about the user.' },
  'routes[].inject.headers': {
    description: 'The identity headers (user, email, groups, name). Default: on when `auth` is not `none`.',
  },
  'routes[].inject.jwt': { description: 'The signed assertion header.', default: false },
  'routes[].inject.accessToken': {
    description: 'Replace Authorization with the user’s access token from their identity provider.',
    default: false,
  },
  'routes[].rewrite': { description: 'Rewrites of the upstream’s answers.' },
  'routes[].rewrite.location': {
    description:
      'A `Location` at the upstream’s own origin is moved under the prefix (nginx `proxy_redirect default`).',
    default: true,
  },
  'routes[].rewrite.cookiePath': {
    description: '`Set-Cookie` paths are moved under the prefix (nginx `proxy_cookie_path`).',
    default: false,
  },
  'routes[].branding': {
    description: 'Inject the brand (stylesheet, favicon, footer) into this route’s HTML pages.',
    default: false,
  },
  'routes[].nav': {
    description: 'An entry in the navigation the customer system embeds (`/_portico/nav.js`).',
  },
  'routes[].nav.title': { description: 'Its title: a string or `{ zh-CN, en-US }`.' },
  'routes[].nav.order': { description: 'Entries are sorted by it, then by id.', default: 0 },
  'routes[].nav.icon': { description: 'An icon URL or name, passed to the navigation as it is.' },
  'routes[].nav.path': {
    description: 'Where the entry links: absolute, or relative to the prefix (default: the prefix).',
  },

  apiKeys: {
    description:
      'Portico API keys for machine clients of proxied routes (`Authorization: Bearer ptk_…`; never forwarded). Make one with `portico hash-key`.',
  },
  'apiKeys[].id': {
    description: 'The key’s id (lower-case letters, digits, `-`, `_`; the part after `ptk_`).',
  },
  'apiKeys[].hash': {
    description: 'The `sha256:…` hash printed by `portico hash-key` (the key itself is never stored).',
  },
  'apiKeys[].username': { description: 'The user name the key stands for (default: its id).' },
  'apiKeys[].email': { description: 'The email the key stands for.' },
  'apiKeys[].name': { description: 'The display name the key stands for.' },
  'apiKeys[].groups': { description: 'The groups the key stands for, for `allow` rules.' },
  branding: { description: 'Reserved: the brand lives in `branding/brand.yaml` beside this file.' },
  nav: { description: 'The embeddable navigation.' },
  'nav.allowedOrigins': {
    description:
      'Other origins (the customer system’s, if it is not on publicUrl) allowed to read `/_portico/nav.json`.',
  },

  notifications: { description: 'Alert sinks (chat robots, webhooks); each gets the events it lists.' },
  'notifications[].type': {
    description: 'The platform; its own protocol (signatures, length limits) is followed.',
  },
  'notifications[].id': {
    description:
      'A label for metrics and logs (lower-case letters, digits, `-`, `_`; default: the type; add one when two sinks share a type).',
  },
  'notifications[].webhook': { description: 'The robot or webhook URL (tokens in it from the environment).' },
  'notifications[].secret': {
    description:
      'The signing secret (DingTalk, Feishu; required for `webhook`: `X-Portico-Signature: sha256=…`).',
  },
  'notifications[].events': {
    description:
      'The events to send (default: all): upstream.down, upstream.up, config.reloaded, config.rejected, auth.failure_burst, admin.change.',
  },
  'notifications[].lang': { description: 'The language of the messages.', default: 'zh-CN' },
  'notifications[].msgtype': {
    description: 'Markdown or plain text (the generic webhook sends both).',
    default: 'markdown',
  },
  'notifications[].dedupWindow': {
    description: 'Events about the same thing within this window are merged.',
    default: '60s',
  },
  'notifications[].retries': { description: 'Retries after a 5xx, a 429 or a network error.', default: 3 },
  'notifications[].retryBackoff': {
    description: 'The first wait between retries (doubled each time).',
    default: '2s',
  },
  'notifications[].timeout': { description: 'For one delivery.', default: '10s' },

  storage: {
    description:
      'S3-compatible object storage for brand assets (a read-through cache) and the audit archive.',
  },
  'storage.provider': { description: '`s3` (AWS), `oss` (Alibaba Cloud), `cos` (Tencent Cloud) or `minio`.' },
  'storage.bucket': { description: 'The bucket (3–63 lower-case letters, digits, `.` and `-`).' },
  'storage.region': { description: 'The region (required for oss and cos).', default: 'us-east-1' },
  'storage.endpoint': {
    description: 'The endpoint (required for minio; oss and cos derive theirs from the region).',
  },
  'storage.accessKeyId': {
    description: 'The access key id, from the environment (default: the SDK’s credential chain).',
  },
  'storage.secretAccessKey': { description: 'The secret key, from the environment.' },
  'storage.sessionToken': { description: 'A session token for temporary credentials.' },
  'storage.prefix': { description: 'Prepended to every object key; ends in `/`, e.g. `portico/`.' },
  'storage.forcePathStyle': { description: 'Path-style requests (minio: true; oss and cos refuse them).' },
  'storage.maxAttempts': { description: 'Attempts per request.', default: 3 },
  'storage.timeout': { description: 'For one request.', default: '15s' },
  'storage.cacheDir': {
    description: 'Where brand assets are cached on disk, relative to routes.yaml. Read at start.',
    default: '.portico/cache',
  },
  'storage.spoolDir': {
    description: 'Where audit events wait for the archive, relative to routes.yaml. Read at start.',
    default: '.portico/spool',
  },
  'storage.branding': { description: 'Brand assets in the bucket.' },
  'storage.branding.prefix': { description: 'Their key prefix (ending in `/`).', default: 'branding/' },
  'storage.branding.refresh': { description: 'How often the bucket is checked for changes.', default: '60s' },
  'storage.auditArchive': { description: 'The audit log, archived to the bucket.' },
  'storage.auditArchive.enabled': { description: 'Archive the audit log.', default: true },
  'storage.auditArchive.interval': { description: 'How often a batch is written.', default: '60s' },
  'storage.auditArchive.maxEvents': { description: 'Events per object at most.', default: 1000 },
  'storage.auditArchive.prefix': { description: 'Their key prefix (ending in `/`).', default: 'audit/' },
  'storage.auditArchive.maxSpoolSize': {
    description:
      'The most the spool (`spoolDir`) holds on disk while the bucket does not take batches (`0`: no bound). Past it the newest events are dropped, never spooled ones — failed sign-ins from 15/16 of it, every event at it — logged at once, counted in `/_portico/readyz`, and recorded in the archive as one `audit.events_dropped` line once there is room again.',
    default: '256m',
  },

  admin: { description: 'The admin API under `/_portico/admin/` (CI/CD deploys, revocation).' },
  'admin.apiKeys': { description: 'Keys for the admin API (`portico hash-key --scopes …`).' },
  'admin.apiKeys[].id': {
    description: 'The key’s id (lower-case letters, digits, `-`; the part after `ptk_`).',
  },
  'admin.apiKeys[].hash': { description: 'The `sha256:…` hash printed by `portico hash-key`.' },
  'admin.apiKeys[].scopes': { description: 'What the key may do.' },
  'admin.apiKeys[].description': { description: 'A note for people.' },
  'admin.listen': {
    description:
      'Serve the admin API only on this listener (e.g. a private address), not on the main one. Read at start.',
  },
  'admin.listen.host': { description: 'Its address.', default: '127.0.0.1' },
  'admin.listen.port': { description: 'Its port.', default: 9901 },
  'admin.rateLimit': { description: 'Requests per key, and how many wrong keys are tolerated.' },
  'admin.rateLimit.perMinute': { description: 'Requests per minute per key.', default: 60 },
  'admin.rateLimit.failedAuthPerMinute': {
    description:
      'Wrong keys per minute per key id they name (ten times this in total); a valid key is never locked out.',
    default: 10,
  },
  'admin.backups': { description: 'How many `routes.yaml.bak-<time>` copies a deploy keeps.', default: 5 },

  oidcProvider: {
    description:
      'Portico as an OpenID Provider (issuer `<publicUrl>/_portico/oidc`) for upstreams that sign users in with OIDC, such as DCE 5’s ghippo.',
  },
  'oidcProvider.clients': { description: 'The clients that may ask who the user is.' },
  'oidcProvider.clients[].id': { description: 'The `client_id`; unique.' },
  'oidcProvider.clients[].secret': {
    description: 'The client secret: at least 32 characters, from the environment.',
  },
  'oidcProvider.clients[].redirectUris': {
    description:
      'Where codes may be sent; matched exactly (no prefix, no trailing slash, case-sensitive). https except on localhost.',
  },
  'oidcProvider.clients[].postLogoutRedirectUris': {
    description: 'Where RP-initiated logout may return; matched exactly.',
  },
  'oidcProvider.clients[].backchannelLogoutUri': {
    description: 'Receives a logout_token whenever a Portico session that signed in to this client ends.',
  },
  ...prefixed('oidcProvider.clients[].allow', allow('use this client (others get `access_denied`)')),
  'oidcProvider.clients[].pkce': {
    description:
      '`required` refuses authorization requests without PKCE; `optional` lets confidential clients (Keycloak brokers) omit it.',
    default: 'optional',
  },
  'oidcProvider.clients[].scopes': {
    description:
      'The scopes this client may ask for (`openid` is always allowed); asking for another gets `invalid_scope`. Without it, every scope: `profile`, `email`, `groups`, `offline_access`. List only what the application needs — a client without `groups` never learns the user’s groups.',
  },
  'oidcProvider.clients[].tokenEndpointAuthMethod': {
    description: 'The method advertised for the client (both are accepted).',
    default: 'client_secret_basic',
  },

  metrics: { description: 'Prometheus metrics at `/_portico/metrics` (on unless `enabled: false`).' },
  'metrics.enabled': { description: 'Serve metrics.', default: true },
  'metrics.token': { description: 'A bearer token Prometheus must send (from the environment); none: open.' },
  'metrics.listen': {
    description: 'Serve metrics on a listener of their own instead of the main one. Read at start.',
  },
  'metrics.listen.host': { description: 'Its address.', default: '0.0.0.0' },
  'metrics.listen.port': { description: 'Its port.' },
  health: {
    description:
      'Active upstream health checks (on once this section is present): metrics, readiness, alerts.',
  },
  'health.checks': { description: 'Run the checks.', default: true },
  'health.interval': { description: 'Between checks of one upstream.', default: '10s' },
  'health.timeout': { description: 'For one check.', default: '2s' },
  'health.unhealthyThreshold': {
    description: 'Failed checks in a row before an upstream is down.',
    default: 3,
  },
  'health.healthyThreshold': { description: 'Good checks in a row before it is up again.', default: 2 },
  'health.path': {
    description:
      'Per route id, the path to check instead of the upstream’s base URL: `{ ai-platform: /healthz }`.',
  },
  'health.uptimeKuma': { description: 'Push heartbeats to an Uptime Kuma push monitor.' },
  'health.uptimeKuma.pushUrl': { description: 'The push URL (from the environment).' },
  'health.uptimeKuma.interval': { description: 'Between heartbeats.', default: '60s' },
  sentry: {
    description: 'Error reports (and traces) to Sentry; cookies, authorization and tokens are scrubbed.',
  },
  'sentry.dsn': { description: 'The DSN; empty (`${SENTRY_DSN:-}`) turns Sentry off.' },
  'sentry.environment': { description: 'The environment name shown in Sentry.' },
  'sentry.release': { description: 'The release name shown in Sentry.' },
  'sentry.sampleRate': { description: 'The share of errors sent.', default: 1 },
  'sentry.tracesSampleRate': {
    description: 'The share of requests traced (a transaction named by route, never by path).',
    default: 0,
  },
  audit: {
    description:
      'The audit log: a JSON stream of sign-ins, logouts, refusals, reloads and admin changes (on once this section is present).',
  },
  'audit.file': { description: 'Append it to this file.' },
  'audit.stdout': { description: 'Write it to stdout too (default: only when there is no `file`).' },
  'audit.loginFailureBurst': { description: 'Raise `auth.failure_burst` when sign-ins fail this often.' },
  'audit.loginFailureBurst.threshold': { description: 'Failures within the window.', default: 10 },
  'audit.loginFailureBurst.window': { description: 'The window.', default: '5m' },
  logging: { description: 'The operational log on stdout.' },
  'logging.level': { description: 'The least severe level logged.', default: 'info' },
  'logging.accessLog': {
    description: 'One line per request (queries of `/_portico/*` are never logged).',
    default: true,
  },
  'logging.accessLogFlush': {
    description:
      'JSON access lines are buffered and written this often (or once a batch is full: 4 KB to a pipe, 64 KB to a file), like nginx `access_log … flush=`; written on exit and shutdown, a SIGKILL loses at most this much. `0s`: each line at once. Read at start.',
    default: '1s',
  },
  'logging.format': {
    description:
      '`json` (one object per line, ISO times) or `pretty`; default: pretty on a terminal, else json. Read at start: a change needs a restart.',
  },
  limits: {
    description:
      'Slow-client and size limits. The HTTP server’s own (timeouts, header size) are read at start: a change needs a restart.',
  },
  'limits.headersTimeout': {
    description: 'Time to receive a request’s headers. Read at start: a change needs a restart.',
    default: '20s',
  },
  'limits.requestTimeout': {
    description: 'Time to receive a whole request (0: off). Read at start: a change needs a restart.',
    default: '0s',
  },
  'limits.ownBodyTimeout': {
    description:
      'Time to receive the body of a request to Portico’s own endpoints (`/_portico/…`: sign-in forms and callbacks, the OpenID Provider, the admin API), counted from its headers; then 408 and the connection is closed. Proxied uploads are not affected (`requestTimeout`).',
    default: '30s',
  },
  'limits.signInStartsPerMinute': {
    description:
      'Sign-ins one client address (IPv6: its /64, as `trustProxy` resolves it) may start in a minute (`/_portico/login/<idp>`); the next gets 429 with Retry-After. Each keeps a sign-in transaction in the store for ten minutes, so without a limit one client could fill Redis. A thousand people behind one NAT address signing in over half an hour start ~35 a minute. 0: no limit.',
    default: 120,
  },
  'limits.maxHeaderSize': {
    description: 'Bytes of request headers (larger: 431). Read at start: a change needs a restart.',
    default: 16384,
  },
  'limits.maxBodySize': {
    description:
      'The largest request body of every route (`512k`, `100m`, `10g`); over it, 413. None by default: Portico streams uploads, and DCE’s registry takes image layers of several GB.',
    default: 0,
  },
  'limits.maxUrlLength': { description: 'Characters of the request target (longer: 400).', default: 8192 },
};
