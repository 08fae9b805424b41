# Midge MQTT broker: docker build -t midge . && docker run -p 1883:1883 -p 8083:8083 -v midge-data:/app/data midge
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY bench ./bench
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /app/data && chown node:node /app/data
USER node
VOLUME /app/data
EXPOSE 1883 8083
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["--host", "0.0.0.0", "--port", "1883", "--ws-port", "8083", "--data-dir", "/app/data"]
