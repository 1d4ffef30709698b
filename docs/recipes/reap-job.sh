#!/bin/sh
# Removes what carries ALL the given labels, with the docker CLI only, through
# whatever DOCKER_HOST points at (the proxy's socket is fine: listing and
# removing are passed through unchanged). For jobs that have the proxy's
# socket but neither docker.sock nor the dockerd-ci-proxy binary.
#
#   sh reap-job.sh Created-Via=dockerd-ci-proxy jenkins-agent="$JENKINS_AGENT_NAME"
#
# Same order as `dockerd-ci-proxy reap`: containers (forced, with their
# anonymous volumes), then networks, then volumes. Exits non-zero when
# something could not be removed. Needs a docker CLI and xargs -r (GNU,
# busybox). Tried as written by test/integration/recipes.test.ts.
set -eu
[ "$#" -gt 0 ] || { echo "usage: reap-job.sh name=value..." >&2; exit 2; }
filters=""
for label in "$@"; do filters="$filters --filter label=$label"; done
# $filters unquoted on purpose: one word per --filter and per label (labels
# with spaces are not supported here; use `dockerd-ci-proxy reap` for those).
# shellcheck disable=SC2086
docker container ls -aq $filters | xargs -r docker container rm -fv
# shellcheck disable=SC2086
docker network ls -q $filters | xargs -r docker network rm
# shellcheck disable=SC2086
docker volume ls -q $filters | xargs -r docker volume rm
