# syntax=docker/dockerfile:1
# One image for all four apps; the command picks the app (docker-compose.yml sets it per service):
#   node --import ./dist/libs/tracing/src/register.js dist/apps/<app>/src/main.js
# The --import preload is a no-op unless OTEL_EXPORTER_OTLP_ENDPOINT is set (see docs/deployment.md).
# Node 22: the LTS line (Node 20 left maintenance in April 2026); CI runs the tests on 20 and on 22.
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
# Install scripts are skipped, as on the development machines (npm 11 skips them there too): every native
# dependency we use ships a prebuilt binary package (sharp, msgpackr-extract), so no compiler is needed.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts
COPY . .
# The supergraph is composed statically and committed; compose it here only if the checkout lacks it.
RUN npm run build \
 && if [ ! -f graphql/supergraph.graphql ]; then npm run --if-present compose; fi \
 && npm prune --omit=dev --ignore-scripts

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    BIND_HOST=0.0.0.0 \
    SWITCHYARD_DATA_DIR=/data
WORKDIR /app
# The tree stays owned by root (the apps cannot rewrite their own code); only /data is writable. Built
# modules read files next to their sources (Lua scripts, templates/, graphql/), so the layout is kept.
COPY --from=build /app /app
COPY --chmod=0755 deploy/docker-entrypoint.sh /usr/local/bin/switchyard-entrypoint
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 4000 4001 4002 4003
ENTRYPOINT ["switchyard-entrypoint"]
CMD ["node", "--import", "./dist/libs/tracing/src/register.js", "dist/apps/gateway/src/main.js"]
