# Midge MQTT broker.
#   docker build -t midge .
#   docker run -p 1883:1883 -p 8083:8083 -p 8080:8080 -v midge-data:/data midge
# Configure with MIDGE_* environment variables (docker run -e MIDGE_LOG_FORMAT=text ...), or mount
# a config file and name it:  -v ./midge.yaml:/etc/midge/midge.yaml:ro -e MIDGE_CONFIG=/etc/midge/midge.yaml
# Flags after the image name are passed to midge (docker run midge --log-level debug).

# Build: install, compile TypeScript, then keep only runtime dependencies.
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY bench ./bench
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

# Runtime: the compiled broker, its runtime dependencies and the status page, run as the non-root node user.
FROM node:22-slim
# NODE_OPTIONS: the flags of src/cli/node-flags.ts (a smaller young generation: less idle memory)
# MIDGE_HTTP_HOST: outside a container the HTTP listener stays on loopback; inside one, only a
# port published with -p reaches it, and 127.0.0.1 would make that port useless
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=4 \
    MIDGE_DATA_DIR=/data \
    MIDGE_HTTP_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY status ./status
RUN chmod +x /app/dist/src/cli/main.js \
 && ln -s /app/dist/src/cli/main.js /usr/local/bin/midge \
 && mkdir -p /data \
 && chown node:node /data
USER node
VOLUME /data
# MQTT/TCP, MQTT/WebSocket, MQTT/TLS, MQTT/secure WebSocket, HTTP (metrics, health, status page)
EXPOSE 1883 8083 8883 8084 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.MIDGE_HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# midge handles SIGTERM itself (graceful shutdown), so it runs as PID 1 without a shell
ENTRYPOINT ["midge"]
