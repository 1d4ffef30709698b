// A real, private Docker daemon per test file: dockerd-in-docker started by
// testcontainers on the outer daemon ($DOCKER_HOST). Its API socket lives in a
// host temp dir bind-mounted into the container, so tests (and the proxy under
// test) reach it as a plain UNIX socket on the host.
// How the container is run (and the DCP_TEST_DIND switch): dind-modes.ts.
import { randomUUID } from "node:crypto";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { GenericContainer } from "testcontainers";
import type { StartedTestContainer } from "testcontainers";
import { innerContainerCgroups, removeCgroups } from "./cgroup-leftovers.js";
import { selectedMode } from "./dind-modes.js";
import { dockerApi } from "./docker-api.js";
import { copyImage } from "./image-transfer.js";
import { assertImagePresent, assertOuterDockerReachable, outerDocker } from "./outer-docker.js";
import type { OuterDocker } from "./outer-docker.js";

export { dockerApi } from "./docker-api.js";
export type { ApiResponse } from "./docker-api.js";

export interface Dind {
  /** Host path of the inner daemon's UNIX socket. */
  socketPath: string;
  /** `unix://` + socketPath, for DOCKER_HOST. */
  dockerHost: string;
  /** The dind container's ID on the outer daemon. */
  containerId: string;
  /** Kills and removes the container and its socket dir; safe to call twice. */
  stop(): Promise<void>;
}

/** Every test image the inner daemon gets preloaded (nothing can be pulled). */
export const BUSYBOX_IMAGE = "local/busybox:latest";
/**
 * Label on every dind container (value: a UUID per startDind), to find
 * leftovers after a crashed run and to clean up after a failed start.
 */
export const DIND_LABEL = "dockerd-ci-proxy.test";

/**
 * The socket dir as the inner daemon sees it (the host side is the dir of
 * `socketPath`): a container on the inner daemon can bind-mount the daemon's
 * socket, or a host-visible dir for sockets of its own, from here.
 */
export const SOCKET_DIR_IN_CONTAINER = "/run/dsock";
const READY_TIMEOUT_MS = 60_000;
const LOG_TAIL_LINES = 60;

/** Keeps the last lines the container printed, for error messages. */
function logTail(): { consume(stream: Readable): void; text(): string } {
  const lines: string[] = [];
  return {
    consume(stream) {
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        lines.push(...chunk.split("\n").filter((line) => line !== ""));
        lines.splice(0, Math.max(0, lines.length - LOG_TAIL_LINES));
      });
      // The log stream ends or breaks when the container goes; that is fine.
      stream.on("error", () => {});
    },
    text: () => lines.join("\n"),
  };
}

async function isRunning(outer: OuterDocker, containerId: string): Promise<boolean> {
  const res = await dockerApi(outer.socketPath, "GET", `/containers/${containerId}/json`);
  if (res.status !== 200) return false;
  return (JSON.parse(res.body) as { State?: { Running?: boolean } }).State?.Running === true;
}

/** Polls GET /_ping on the host-side socket until the inner daemon says OK. */
async function waitForPing(outer: OuterDocker, containerId: string, socketPath: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    try {
      const ping = await dockerApi(socketPath, "GET", "/_ping");
      if (ping.status === 200 && ping.body === "OK") return;
      last = `GET /_ping answered ${ping.status}: ${ping.body}`;
    } catch (err) {
      // ENOENT before dockerd creates the socket, ECONNREFUSED while it starts.
      last = String(err);
    }
    // A dockerd that exited (bad flag, missing library) will never answer.
    if (!(await isRunning(outer, containerId))) throw new Error(`the dind container exited (${last})`);
    await sleep(100);
  }
  throw new Error(`the inner daemon did not answer within ${READY_TIMEOUT_MS} ms (${last})`);
}

/**
 * testcontainers falls back to another daemon silently when DOCKER_HOST does
 * not work: make sure the container really is on the daemon we meant.
 */
async function assertOnOuterDaemon(outer: OuterDocker, containerId: string): Promise<void> {
  const res = await dockerApi(outer.socketPath, "GET", `/containers/${containerId}/json`);
  if (res.status !== 200) {
    throw new Error(
      `testcontainers started ${containerId} on some daemon other than DOCKER_HOST=${outer.dockerHost} ` +
        `(GET /containers/${containerId}/json there: ${res.status})`,
    );
  }
}

export async function startDind(): Promise<Dind> {
  const outer = outerDocker();
  const mode = selectedMode();
  await assertOuterDockerReachable(outer);
  if (mode.name === "default") await assertImagePresent(outer, mode.image);
  await assertImagePresent(outer, BUSYBOX_IMAGE);

  const socketDir = await mkdtemp(join(tmpdir(), "dcp-dind-"));
  // mkdtemp makes it 0700; the daemon in the container and a non-root test
  // user both need to traverse it.
  await chmod(socketDir, 0o755);
  const socketPath = join(socketDir, "docker.sock");
  const logs = logTail();
  const runId = randomUUID();
  const dockerdArgs = [
    `--host=unix://${SOCKET_DIR_IN_CONTAINER}/docker.sock`,
    // The socket is 0660 root:<group>; our own gid lets a non-root runner in.
    `--group=${process.getgid?.() ?? 0}`,
  ];

  let started: StartedTestContainer | undefined;
  try {
    started = await mode
      .configure(new GenericContainer(mode.image), dockerdArgs)
      // Swarm tries to pull a task's image before using the local copy
      // (moby's cluster executor), and no registry is reachable here: where
      // DNS times out rather than fails (the CI daemon's own network
      // namespace), every task waited 20 s for that pull.
      .withEnvironment({ DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: "1" })
      .withLabels({ [DIND_LABEL]: runId })
      .withBindMounts([...mode.binds, { source: socketDir, target: SOCKET_DIR_IN_CONTAINER, mode: "rw" }])
      .withLogConsumer((stream) => logs.consume(stream))
      .start();
    const containerId = started.getId();
    await assertOnOuterDaemon(outer, containerId);
    await waitForPing(outer, containerId, socketPath);
    await copyImage(outer.socketPath, socketPath, BUSYBOX_IMAGE);
  } catch (err) {
    // Not just started?.stop(): start() itself can fail after creating the
    // container (e.g. "executable file not found"), leaving it behind.
    await removeLabelled(outer, runId).catch(() => {});
    await rm(socketDir, { recursive: true, force: true }).catch(() => {});
    const tail = logs.text();
    throw new Error(
      `startDind (${mode.name} mode, ${mode.image}) failed: ${String(err)}` +
        (tail ? `\n--- last dind logs ---\n${tail}` : ""),
      { cause: err },
    );
  }

  const container = started;
  let stopping: Promise<void> | undefined;
  return {
    socketPath,
    dockerHost: `unix://${socketPath}`,
    containerId: container.getId(),
    stop: () => (stopping ??= stopDind(container, socketPath, socketDir)),
  };
}

async function removeLabelled(outer: OuterDocker, runId: string): Promise<void> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${DIND_LABEL}=${runId}`] }));
  const list = await dockerApi(outer.socketPath, "GET", `/containers/json?all=1&filters=${filters}`);
  for (const { Id } of JSON.parse(list.body) as Array<{ Id: string }>) {
    await dockerApi(outer.socketPath, "DELETE", `/containers/${Id}?force=1&v=1`);
  }
}

async function stopDind(container: StartedTestContainer, socketPath: string, socketDir: string): Promise<void> {
  // Must be read before the kill: afterwards nobody can tell us the IDs.
  // (Harmless where the inner cgroups are not the host's: no path matches.)
  const cgroups = await innerContainerCgroups(socketPath).catch(() => []);
  // Killed at once (timeout 0): a graceful dockerd shutdown waits up to 10 s
  // per running container, and the tmpfs state is thrown away anyway.
  await container.stop({ timeout: 0, remove: true, removeVolumes: true });
  await removeCgroups(cgroups);
  await rm(socketDir, { recursive: true, force: true });
}
