import { adminSchema, storageSchema } from './adminSchema.ts';
import { oidcProviderSchema } from './oidcProviderSchema.ts';
import { redisSchema } from './redisSchema.ts';
import { routePolicyProperties, size } from './routePolicySchema.ts';
import { allowRules, duration, headerName, listenAddress, localised } from './schemaParts.ts';
import { auditSchema, healthSchema, metricsSchema, notificationsSchema, sentrySchema } from './opsSchema.ts';

const id = {
  type: 'string',
  pattern: '^[a-z0-9][a-z0-9_-]{0,62}$',
  'x-hint': 'lower-case letters, digits, "-" and "_"',
} as const;
const stringList = { type: 'array', items: { type: 'string', minLength: 1 } } as const;

const upstreamTls = {
  type: 'object',
  additionalProperties: false,
  properties: {
    insecureSkipVerify: { type: 'boolean' },
    ca: { type: 'string' },
    serverName: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
} as const;

const serverUrl = { type: 'string', pattern: '^https?://', 'x-hint': 'an http:// or https:// URL' } as const;

/**
 * Several servers for one route (nginx `upstream { server …; }`): how requests are spread, and when
 * a failing server is left out. Checks the schema cannot express (one scheme and base path for
 * all, at least one server that is not a backup) are in upstreamsProblems.ts.
 */
const upstreams = {
  type: 'object',
  additionalProperties: false,
  required: ['servers'],
  properties: {
    servers: {
      type: 'array',
      minItems: 1,
      // if/then/else rather than anyOf: a mistake inside the object form is named where it is.
      items: {
        if: { type: 'string' },
        then: serverUrl,
        else: {
          type: 'object',
          additionalProperties: false,
          required: ['url'],
          properties: {
            url: serverUrl,
            weight: { type: 'integer', minimum: 1, maximum: 100 },
            backup: { type: 'boolean' },
          },
          'x-hint': 'a URL, or { url: …, weight: 2, backup: true }',
        },
      },
    },
    balance: {
      enum: ['round-robin', 'least-conn'],
      'x-hint': 'round-robin (by weight) or least-conn (fewest requests in flight)',
    },
    maxFails: { type: 'integer', minimum: 0, maximum: 1000 },
    failTimeout: duration,
    sticky: { enum: ['session'], 'x-hint': 'session: a signed-in user stays on one server' },
  },
} as const;

const route = {
  type: 'object',
  additionalProperties: false,
  // `upstream` (or `upstreams`) is required unless the route answers itself (respond, redirect,
  // maintenance): checked in routePolicyProblems.ts, with a message that says so.
  required: ['id', 'path'],
  properties: {
    id,
    path: { type: 'string', pattern: '^/[^?#\\s]*$', 'x-hint': 'a path starting with "/", such as /dce5/' },
    upstream: serverUrl,
    upstreams,
    tls: upstreamTls,
    websocket: { type: 'boolean' },
    preserveHost: { type: 'boolean' },
    maxConnections: { type: 'integer', minimum: 1, maximum: 65535 },
    timeouts: {
      type: 'object',
      additionalProperties: false,
      properties: { connect: duration, idle: duration },
    },
    auth: { enum: ['required', 'optional', 'none'] },
    bearer: {
      enum: ['passthrough', 'verify'],
      'x-hint':
        "passthrough (the upstream checks its own tokens) or verify (Portico accepts its IdPs' access tokens)",
    },
    bearerProviders: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      minItems: 1,
      'x-hint': 'ids of identity providers whose access tokens this bearer: verify route accepts',
    },
    keycloakIdpHint: {
      type: 'string',
      pattern: '^[A-Za-z0-9._-]{1,64}$',
      'x-hint': 'the alias of the identity provider in the upstream Keycloak (kc_idp_hint)',
    },
    allow: allowRules,
    inject: {
      type: 'object',
      additionalProperties: false,
      properties: {
        headers: { type: 'boolean' },
        jwt: { type: 'boolean' },
        accessToken: { type: 'boolean' },
      },
    },
    rewrite: {
      type: 'object',
      additionalProperties: false,
      properties: { location: { type: 'boolean' }, cookiePath: { type: 'boolean' } },
    },
    branding: { type: 'boolean' },
    nav: {
      type: 'object',
      additionalProperties: false,
      required: ['title'],
      properties: {
        title: localised,
        order: { type: 'number' },
        icon: { type: 'string' },
        path: { type: 'string' },
      },
    },
    ...routePolicyProperties,
  },
} as const;

const pemOrPath = { type: 'string', minLength: 1, 'x-hint': 'a PEM text or the path of a PEM file' } as const;
/** LDAP / Active Directory (gateway/auth/providers/ldap.ts): every key listed, typos are errors. */
const ldapProviderRule = {
  if: { required: ['type'], properties: { type: { const: 'ldap' } } },
  then: {
    required: ['url', 'userBase'],
    additionalProperties: false,
    properties: {
      id: true,
      type: true,
      name: true,
      url: {
        type: 'string',
        pattern: '^ldaps?://[^/?#]+/?$',
        'x-hint': 'ldap://host:389 or ldaps://host:636',
      },
      startTls: { type: 'boolean' },
      tls: {
        type: 'object',
        additionalProperties: false,
        properties: {
          ca: pemOrPath,
          insecureSkipVerify: { type: 'boolean' },
          serverName: { type: 'string' },
        },
      },
      bindDn: { type: 'string', minLength: 1 },
      bindPassword: { type: 'string' },
      userBase: { type: 'string', minLength: 1 },
      userFilter: {
        type: 'string',
        pattern: '^\\(.*\\{username\\}.*\\)$',
        'x-hint': 'an LDAP filter containing {username}, such as (uid={username})',
      },
      groupBase: { type: 'string', minLength: 1 },
      groupFilter: {
        type: 'string',
        pattern: '^\\(.*\\)$',
        'x-hint': 'an LDAP filter with {dn} or {username}, such as (member={dn})',
      },
      groupNameAttribute: { type: 'string', minLength: 1 },
      memberOf: { type: 'boolean' },
      nestedGroups: { anyOf: [{ type: 'boolean' }, { enum: ['in-chain', 'recursive'] }] },
      nestedGroupsDepth: { type: 'integer', minimum: 1, maximum: 20 },
      activeDirectory: { type: 'boolean' },
      attributes: {
        type: 'object',
        additionalProperties: false,
        properties: { username: { type: 'string' }, email: { type: 'string' }, name: { type: 'string' } },
      },
      timeout: duration,
      trustEmail: { type: 'boolean' },
      throttle: {
        type: 'object',
        additionalProperties: false,
        properties: {
          maxPerUser: { type: 'integer', minimum: 1 },
          maxPerIp: { type: 'integer', minimum: 1 },
          window: duration,
        },
      },
    },
  },
} as const;
/** SAML 2.0 (gateway/auth/providers/saml.ts). At least one of the two signatures is required. */
const samlProviderRule = {
  if: { required: ['type'], properties: { type: { const: 'saml' } } },
  then: {
    required: ['entryPoint', 'idpCert'],
    additionalProperties: false,
    properties: {
      id: true,
      type: true,
      name: true,
      entryPoint: {
        type: 'string',
        pattern: '^https?://',
        'x-hint': "the IdP's SSO URL (HTTP-Redirect binding)",
      },
      issuer: { type: 'string', minLength: 1 },
      idpCert: { anyOf: [pemOrPath, { type: 'array', items: pemOrPath, minItems: 1 }] },
      idpIssuer: { type: 'string', minLength: 1 },
      audience: { type: 'string', minLength: 1 },
      wantAssertionsSigned: { type: 'boolean' },
      wantAuthnResponseSigned: { type: 'boolean' },
      signatureAlgorithm: { enum: ['sha256', 'sha512'] },
      privateKey: pemOrPath,
      cert: pemOrPath,
      identifierFormat: { type: 'string', minLength: 1 },
      disableRequestedAuthnContext: { type: 'boolean' },
      attributes: {
        type: 'object',
        additionalProperties: false,
        properties: {
          username: { type: 'string' },
          email: { type: 'string' },
          name: { type: 'string' },
          groups: { type: 'string' },
        },
      },
      acceptedClockSkew: duration,
      maxAssertionAge: duration,
      trustEmail: { type: 'boolean' },
      logoutUrl: { type: 'string', pattern: '^https?://' },
    },
    not: {
      required: ['wantAssertionsSigned', 'wantAuthnResponseSigned'],
      properties: { wantAssertionsSigned: { const: false }, wantAuthnResponseSigned: { const: false } },
    },
  },
} as const;

/** Keys every OAuth-style provider takes: its id, display name, claim mapping and client. */
const oauthClientKeys = {
  id: true,
  type: true,
  name: true,
  claims: {
    type: 'object',
    additionalProperties: false,
    properties: {
      username: { type: 'string' },
      email: { type: 'string' },
      name: { type: 'string' },
      groups: { type: 'string' },
    },
  },
  clientId: { type: 'string', minLength: 1 },
  clientSecret: { type: 'string', minLength: 1 },
  trustEmail: { type: 'boolean' },
} as const;

const identityProvider = {
  type: 'object',
  required: ['id', 'type'],
  properties: {
    id,
    type: { enum: ['oidc', 'github', 'google', 'gitlab', 'ldap', 'saml'] },
    name: localised,
  },
  allOf: [
    {
      if: { properties: { type: { const: 'oidc' } } },
      then: {
        required: ['issuer', 'clientId'],
        additionalProperties: false,
        properties: {
          ...oauthClientKeys,
          issuer: { type: 'string', pattern: '^https?://' },
          clientSecret: { type: 'string' },
          scopes: stringList,
          audiences: stringList,
          authorizationParams: { type: 'object', additionalProperties: { type: 'string' } },
          userinfo: { type: 'boolean' },
        },
      },
    },
    ldapProviderRule,
    samlProviderRule,
    // github / google / gitlab: every key is listed, so a misspelt option is an error.
    {
      if: { properties: { type: { const: 'github' } } },
      then: {
        required: ['clientId', 'clientSecret'],
        additionalProperties: false,
        properties: {
          ...oauthClientKeys,
          baseUrl: {
            type: 'string',
            pattern: '^https?://[^?#]+$',
            'x-hint': 'e.g. https://github.example.com',
          },
          apiUrl: { type: 'string', pattern: '^https?://[^?#]+$' },
          scopes: stringList,
          allowedOrganizations: stringList,
          allowedTeams: {
            type: 'array',
            items: { type: 'string', pattern: '^[^/\\s]+/[^/\\s]+$', 'x-hint': 'org/team-slug' },
          },
          fetchGroups: { type: 'boolean' },
        },
      },
    },
    {
      if: { properties: { type: { const: 'google' } } },
      then: {
        required: ['clientId', 'clientSecret'],
        additionalProperties: false,
        properties: {
          ...oauthClientKeys,
          issuer: { type: 'string', pattern: '^https?://' },
          hostedDomain: {
            anyOf: [
              { type: 'string', pattern: '^[A-Za-z0-9.-]+$' },
              { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9.-]+$' }, minItems: 1 },
            ],
            'x-hint': 'a Google Workspace domain such as example.com',
          },
          scopes: stringList,
          authorizationParams: { type: 'object', additionalProperties: { type: 'string' } },
          userinfo: { type: 'boolean' },
        },
      },
    },
    {
      if: { properties: { type: { const: 'gitlab' } } },
      then: {
        required: ['clientId', 'clientSecret'],
        additionalProperties: false,
        properties: {
          ...oauthClientKeys,
          baseUrl: {
            type: 'string',
            pattern: '^https?://[^?#]+$',
            'x-hint': 'e.g. https://gitlab.example.com',
          },
          scopes: stringList,
          allowedGroups: stringList,
          userinfo: { type: 'boolean' },
        },
      },
    },
  ],
} as const;

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  // A file without routes is a truncated save, never a config to serve: every request would 404.
  required: ['routes'],
  properties: {
    listen: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ...listenAddress,
        tls: {
          type: 'object',
          additionalProperties: false,
          required: ['cert', 'key'],
          properties: { cert: { type: 'string' }, key: { type: 'string' }, http2: { type: 'boolean' } },
        },
      },
    },
    publicUrl: {
      type: 'string',
      pattern: '^https?://[^/?#]+/?$',
      'x-hint': 'an origin such as https://portal.example.com',
    },
    trustProxy: { anyOf: [{ type: 'boolean' }, stringList] },
    session: {
      type: 'object',
      additionalProperties: false,
      properties: {
        secret: {
          anyOf: [
            { type: 'string', minLength: 32 },
            { type: 'array', items: { type: 'string', minLength: 32 }, minItems: 1 },
          ],
          'x-hint': 'a random string of at least 32 characters (or a list of them, newest first, to rotate)',
        },
        store: { enum: ['memory', 'redis'] },
        redis: redisSchema,
        maxAge: duration,
        idleTimeout: duration,
        cookieName: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$' },
        maxEntries: { type: 'integer', minimum: 1 },
        cacheTtl: duration,
        terminalCheck: duration,
      },
    },
    identityProviders: { type: 'array', items: identityProvider },
    identity: {
      type: 'object',
      additionalProperties: false,
      properties: {
        primaryProvider: {
          ...id,
          'x-hint': 'the id of the identity provider whose users keep bare names (others are "<idp>:<name>")',
        },
        headers: {
          type: 'object',
          additionalProperties: false,
          properties: { user: headerName, email: headerName, groups: headerName, name: headerName },
        },
        jwt: {
          type: 'object',
          additionalProperties: false,
          properties: {
            header: headerName,
            ttl: duration,
            keys: {
              type: 'object',
              additionalProperties: false,
              properties: {
                store: { enum: ['memory', 'file', 'redis'] },
                file: { type: 'string' },
                rotateEvery: duration,
              },
            },
          },
        },
      },
    },
    routes: { type: 'array', items: route, minItems: 1 },
    apiKeys: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'hash'],
        properties: {
          id,
          hash: {
            type: 'string',
            pattern: '^sha256:[0-9a-f]{64}$',
            'x-hint': 'a hash printed by `portico hash-key`',
          },
          username: { type: 'string' },
          email: { type: 'string' },
          name: { type: 'string' },
          groups: stringList,
        },
      },
    },
    branding: { type: 'object' },
    nav: {
      type: 'object',
      additionalProperties: false,
      properties: {
        allowedOrigins: { type: 'array', items: { type: 'string', pattern: '^https?://[^/?#]+$' } },
      },
    },
    notifications: notificationsSchema,
    storage: storageSchema,
    admin: adminSchema,
    oidcProvider: oidcProviderSchema,
    metrics: metricsSchema,
    health: healthSchema,
    sentry: sentrySchema,
    audit: auditSchema,
    logging: {
      type: 'object',
      additionalProperties: false,
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
        accessLog: { type: 'boolean' },
        accessLogFlush: duration,
        format: { enum: ['json', 'pretty'] },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        headersTimeout: duration,
        requestTimeout: duration,
        ownBodyTimeout: duration,
        signInStartsPerMinute: { type: 'integer', minimum: 0 },
        maxHeaderSize: { type: 'integer', minimum: 1024 },
        maxUrlLength: { type: 'integer', minimum: 256 },
        maxBodySize: size,
      },
    },
  },
} as const;
