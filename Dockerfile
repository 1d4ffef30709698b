# dockerd-ci-proxy as an image, to run in (or beside) a CI agent's container
# with the Docker socket mounted:
#
#   docker build -t dockerd-ci-proxy .
#   docker run -d -v /var/run/docker.sock:/var/run/docker.sock -v /run/ci:/run/ci \
#     dockerd-ci-proxy --ls /run/ci/docker.sock
#
# BASE is any image with Node.js >= 20 on PATH and /usr/bin/env (npm too, for
# the build stage). It is an argument because CI machines may have no
# registry: they pass an image they already have.
#
# Needs BuildKit (the default builder since Docker 23; DOCKER_BUILDKIT=1 on
# 20.10): it builds only the stages the target needs, so the offline
# "prebuilt" stage below costs nothing in a normal build.
ARG BASE=node:20-bookworm-slim
# Where dist/ and the production node_modules come from: "build" compiles them
# below; "prebuilt" takes them from a build context that already holds them
# (offline machines: see test/fixtures/build-proxy-image.sh).
ARG ARTIFACTS=build

FROM ${BASE} AS build
WORKDIR /opt/dockerd-ci-proxy
# Dependencies first, so that a source change does not re-run npm ci.
COPY package.json package-lock.json ./
# --ignore-scripts: "prepare" would compile before the sources are here.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM scratch AS prebuilt
COPY package.json /opt/dockerd-ci-proxy/package.json
COPY dist /opt/dockerd-ci-proxy/dist
COPY node_modules /opt/dockerd-ci-proxy/node_modules

FROM ${ARTIFACTS} AS artifacts

FROM ${BASE} AS runtime
ENV NODE_ENV=production
WORKDIR /opt/dockerd-ci-proxy
COPY --from=artifacts /opt/dockerd-ci-proxy/package.json ./package.json
COPY --from=artifacts /opt/dockerd-ci-proxy/node_modules ./node_modules
COPY --from=artifacts /opt/dockerd-ci-proxy/dist ./dist
# tsc writes no execute bit; npm would add it when linking the bin.
RUN chmod 755 dist/cli.js && mkdir -p /usr/local/bin && ln -sf /opt/dockerd-ci-proxy/dist/cli.js /usr/local/bin/dockerd-ci-proxy
# Runs as root: it must open the Docker socket (root:docker 0660), which
# gives root-equivalent power anyway.
ENTRYPOINT ["dockerd-ci-proxy"]
