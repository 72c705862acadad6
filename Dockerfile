# syntax=docker/dockerfile:1
# The operator image: built from the TypeScript sources in a build stage, run on
# Node 22 LTS with production dependencies only, as a non-root user, with a
# read-only root filesystem: the process writes only the federation state
# (DSC_STATE_DIR, /var/lib/dsc: mount a volume) and nothing else; mount /tmp
# as well if anything should need scratch space.
#
# The health endpoint is the operator's HTTP server (operator/config.ts):
# DSC_HTTP_PORT, 8080 by default, serves /healthz, /readyz (ready while
# leading) and /metrics. The federation endpoint (DSC_PEER_LISTEN) is 7443.

# The bases, as build arguments: official images by default; e2e/image/build.sh
# passes local stand-ins built from Debian's and npm's packages (no container
# registry can be reached where CI runs).
ARG NODE_IMAGE=node:22.23.3-bookworm-slim
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY operator ./operator
RUN npx tsc -p tsconfig.build.json

# Production dependencies, pruned to what dist/main.js can load: the CLI's
# packages (@kubernetes/client-node, the Safe kits) and their trees, and the
# TypeScript sources, declarations and maps Node never loads from node_modules.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY operator/build/runtime-deps.ts ./runtime-deps.ts
RUN node runtime-deps.ts dist/main.js node_modules \
 && mkdir -p /out/var/lib/dsc && cp /usr/local/bin/node /out/node

# Node's binary on a plain Debian: no npm, no yarn, no compilers, nothing the operator never runs.
FROM ${RUNTIME_IMAGE} AS runtime
ENV NODE_ENV=production DSC_HTTP_PORT=8080 DSC_STATE_DIR=/var/lib/dsc
WORKDIR /app
COPY --from=deps /out/node /usr/local/bin/node
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# The state directory, owned by the runtime user (uid 1000), for runs without
# an orchestrator-provided volume; Kubernetes mounts a PVC over it.
COPY --from=deps --chown=1000:1000 /out/var/lib/dsc /var/lib/dsc
VOLUME ["/var/lib/dsc"]
# Numeric, so that Kubernetes' runAsNonRoot can verify it (the image has no user by that name).
USER 1000:1000
EXPOSE 8080 7443
HEALTHCHECK --interval=10s --timeout=2s CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.DSC_HTTP_PORT||'8080')+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# A young generation of at most 2 MB per semi-space rather than V8's default
# 16: 16–18 MB less RSS with 10,000 manifests loaded (npm run bench, "RSS"),
# for more frequent, shorter scavenges. The test bed and the benchmarks read
# these flags from here (e2e/testbed/image.ts).
ENTRYPOINT ["node", "--max-semi-space-size=2", "dist/main.js"]
