# syntax=docker/dockerfile:1
# Portico: TypeScript run natively by Node 24 (type stripping), so there is no compile step; the
# image is the production dependencies plus the source.
#
#   docker build -t portico .
#   docker run -p 8080:8080 -v "$PWD/my-config:/etc/portico:ro" -e SESSION_SECRET=… portico
#
# The config is /etc/portico/routes.yaml: mount the folder, not the single file, so an edit
# (or a Kubernetes ConfigMap update) is seen and hot-reloaded. The demo upstreams
# (docker-compose.yml) run from the `demo` target, which adds the packages only the demo uses:
#   docker build --target demo -t portico-demo .   …   --entrypoint node … scripts/demo/upstreams.ts

# ---- dependencies: production only (the `node` devDependency, which pins Node 24 for older
# system nodes, is not needed: this image's node is 24).
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No production dependency has an install script, so none is run.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force

# ---- the demo's own packages (the web terminal's xterm and WebSocket server), for the demo
# target only: the gateway never loads them.
FROM node:24-bookworm-slim AS demo-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force

# ---- what the runtime and the demo share: the user, the code, the defaults
FROM node:24-bookworm-slim AS base
LABEL org.opencontainers.image.title="Portico" \
  org.opencontainers.image.description="Front door for OEM OUT deployments: one domain, one login, two products." \
  org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
# uid/gid 10001: not root, and not a uid that exists on a typical host.
RUN groupadd --system --gid 10001 portico \
  && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin portico \
  && mkdir -p /etc/portico /var/lib/portico \
  && chown 10001:10001 /var/lib/portico
WORKDIR /app
# Code and dependencies belong to root and are read-only for the gateway's user.
COPY package.json ./
COPY gateway ./gateway
COPY scripts ./scripts
COPY branding ./branding
COPY routes.yaml ./routes.yaml
# The default config folder: the demo routes.yaml with its branding beside it. It is the demo's:
# it needs SESSION_SECRET, OIDC_CLIENT_SECRET and GHIPPO_CLIENT_SECRET, and the demo identity
# provider and upstreams at DEMO_IDP_ISSUER, DEMO_AI_URL and DEMO_CUSTOMER_URL, which this image
# does not run by itself (docker-compose.yml runs the upstreams from it). Mount your own folder
# over /etc/portico (docker -v, a Kubernetes ConfigMap): docs/deployment.md.
RUN ln -s /app/routes.yaml /etc/portico/routes.yaml \
  && ln -s /app/branding /etc/portico/branding
# The demo routes.yaml listens on ${PORTICO_HOST:-127.0.0.1}: in a container, every interface.
ENV PORTICO_HOST=0.0.0.0
USER 10001:10001
EXPOSE 8080
# Liveness only (no curl in the slim image: node asks). Readiness (Redis, the IdP) is
# /_portico/readyz, for orchestrators that route traffic by it.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.PORTICO_HEALTHCHECK_URL || 'http://127.0.0.1:8080/_portico/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains: no new connections, in-flight requests finish (up to 25 s), WebSockets get 1001.
# Exec form, node itself as PID 1 (this image's node is 24: no hand-over), so the signal reaches
# the gateway. Never wrap it in `npx`, `npm start` or `sh -c`: their shell does not pass it on.
STOPSIGNAL SIGTERM
# The launcher's V8 flag (scripts/portico.js NODE_FLAGS) given here, so it need not start itself
# again to add it: ~60 ms of every start (pure proxy, median of 5: 437 → 369 ms).
ENTRYPOINT ["node", "--max-semi-space-size=4", "scripts/portico.js"]
CMD ["serve", "--config", "/etc/portico/routes.yaml"]

# ---- the demo upstreams of docker-compose.yml: `docker build --target demo -t portico-demo .`
FROM base AS demo
COPY --from=demo-deps /app/node_modules ./node_modules

# ---- the runtime (the default target: the last stage)
FROM base AS runtime
COPY --from=deps /app/node_modules ./node_modules
# Node's compile cache, filled at build time with every module the gateway can load: each new
# container then starts without stripping or compiling anything (and without the TypeScript
# stripper in memory), also on a read-only root filesystem, where nothing can be written at run
# time. Root owns it; the gateway's user only reads it.
ENV NODE_COMPILE_CACHE=/app/.node-compile-cache
USER root
RUN node scripts/warmCompileCache.ts /app/.node-compile-cache && chmod -R a+rX /app/.node-compile-cache
USER 10001:10001
