// The "outer" daemon: the one in $DOCKER_HOST that runs each test file's
// dockerd-in-docker. testcontainers must talk to exactly this daemon: when its
// configured socket fails it silently falls back to /var/run/docker.sock
// (ENVIRONMENT.md), and then our bind mounts and images would be on another
// daemon. So we pin DOCKER_HOST before testcontainers first reads it, check the
// daemon answers first, and dind.ts checks afterwards where the container landed.
import { dockerApi, socketPathOf } from "./docker-api.js";

const DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock";

export interface OuterDocker {
  dockerHost: string;
  socketPath: string;
}

/**
 * Resolves the outer daemon from DOCKER_HOST (or Docker's default socket) and
 * writes it back to process.env so testcontainers cannot pick another one.
 * Only unix:// works: the dind's socket directory is a bind mount of a local
 * temp dir, which a remote daemon could not see.
 */
export function outerDocker(): OuterDocker {
  const dockerHost = process.env["DOCKER_HOST"] || DEFAULT_DOCKER_HOST;
  const socketPath = socketPathOf(dockerHost);
  process.env["DOCKER_HOST"] = dockerHost;
  // Ryuk (testcontainers' reaper) is an image pulled from Docker Hub, which CI
  // cannot reach; stop() and the CI script's private daemon do the cleanup.
  process.env["TESTCONTAINERS_RYUK_DISABLED"] ??= "true";
  return { dockerHost, socketPath };
}

/** Fails with a useful message when the outer daemon is not there. */
export async function assertOuterDockerReachable({ dockerHost, socketPath }: OuterDocker): Promise<void> {
  try {
    const ping = await dockerApi(socketPath, "GET", "/_ping");
    if (ping.status === 200) return;
    throw new Error(`GET /_ping answered ${ping.status}: ${ping.body}`);
  } catch (err) {
    throw new Error(`the Docker daemon at DOCKER_HOST=${dockerHost} is not usable: ${String(err)}`, { cause: err });
  }
}

/** Fails when the outer daemon lacks an image that cannot be pulled here. */
export async function assertImagePresent({ socketPath }: OuterDocker, image: string): Promise<void> {
  const res = await dockerApi(socketPath, "GET", `/images/${image}/json`);
  if (res.status !== 200) {
    throw new Error(
      `image ${image} is missing on the outer daemon (GET /images/${image}/json: ${res.status}); ` +
        "build it with: bash test/fixtures/build-images.sh",
    );
  }
}
