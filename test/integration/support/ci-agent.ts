// A CI agent as the proxy is meant to be deployed: a container on the (inner)
// daemon running the proxy image, with that daemon's socket bind-mounted, and
// listening on a socket in a bind-mounted dir that the host can also reach.
// Created straight on the daemon, never through a proxy.
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type Dind, dockerApi, SOCKET_DIR_IN_CONTAINER } from "./dind.js";

export const PROXY_IMAGE = "local/dockerd-ci-proxy:latest";

export interface CiAgentOptions {
  /** Short, unique within the dind: the container name and its socket dir. */
  name: string;
  /** `--cgroup-parent` of the agent container itself. */
  cgroupParent?: string;
  /** `--hostname` of the agent container. */
  hostname?: string;
  /** Proxy arguments after `--ds` and `--ls`. */
  proxyArgs: string[];
}

export interface CiAgent {
  id: string;
  /** The proxy's listen socket, host path. */
  socketPath: string;
  /** The agent's output so far (the proxy's JSON log lines). */
  logs(): Promise<string>;
  /** Starts another proxy in the same container, on `<socket dir>/<socketName>`; resolves when it answers. */
  startSecondProxy(socketName: string, proxyArgs: string[]): Promise<string>;
}

const DAEMON_SOCKET_IN_AGENT = "/var/run/docker.sock";
const SOCKET_DIR_IN_AGENT = "/run/proxy";
const READY_TIMEOUT_MS = 20_000;

export async function startCiAgent(dind: Dind, options: CiAgentOptions): Promise<CiAgent> {
  const dirName = `agent-${options.name}`;
  const hostDir = join(dirname(dind.socketPath), dirName);
  await mkdir(hostDir, { mode: 0o755 });
  const proxyCommand = (socketName: string, args: string[]) => [
    "--ds",
    DAEMON_SOCKET_IN_AGENT,
    "--ls",
    `${SOCKET_DIR_IN_AGENT}/${socketName}`,
    // The agent has a TTY (below), where the default log format is pretty;
    // the tests read the JSON lines.
    "--log-format",
    "json",
    ...args,
  ];

  const created = await dockerApi(dind.socketPath, "POST", `/containers/create?name=${options.name}`, {
    Image: PROXY_IMAGE,
    Cmd: proxyCommand("docker.sock", options.proxyArgs),
    // A TTY keeps the logs one plain stream (no multiplexing frames to strip).
    Tty: true,
    ...(options.hostname !== undefined ? { Hostname: options.hostname } : {}),
    HostConfig: {
      ...(options.cgroupParent !== undefined ? { CgroupParent: options.cgroupParent } : {}),
      Binds: [
        `${SOCKET_DIR_IN_CONTAINER}/docker.sock:${DAEMON_SOCKET_IN_AGENT}`,
        `${SOCKET_DIR_IN_CONTAINER}/${dirName}:${SOCKET_DIR_IN_AGENT}`,
      ],
    },
  });
  if (created.status !== 201) throw new Error(`creating agent ${options.name}: ${created.status} ${created.body}`);
  const id = (JSON.parse(created.body) as { Id: string }).Id;
  const started = await dockerApi(dind.socketPath, "POST", `/containers/${id}/start`);
  if (started.status !== 204) throw new Error(`starting agent ${options.name}: ${started.status} ${started.body}`);

  const logs = async () => (await dockerApi(dind.socketPath, "GET", `/containers/${id}/logs?stdout=1&stderr=1`)).body;
  const socketPath = join(hostDir, "docker.sock");
  await waitForProxy(socketPath, async () => `agent ${options.name} (${id.slice(0, 12)}): ${await logs()}`);

  return {
    id,
    socketPath,
    logs,
    async startSecondProxy(socketName, proxyArgs) {
      const exec = await dockerApi(dind.socketPath, "POST", `/containers/${id}/exec`, {
        Cmd: ["dockerd-ci-proxy", ...proxyCommand(socketName, proxyArgs)],
      });
      if (exec.status !== 201) throw new Error(`exec in agent ${options.name}: ${exec.status} ${exec.body}`);
      const execId = (JSON.parse(exec.body) as { Id: string }).Id;
      const start = await dockerApi(dind.socketPath, "POST", `/exec/${execId}/start`, { Detach: true });
      if (start.status !== 200) throw new Error(`exec start in agent ${options.name}: ${start.status} ${start.body}`);
      const path = join(hostDir, socketName);
      await waitForProxy(path, async () => `second proxy in agent ${options.name}`);
      return path;
    },
  };
}

/** Polls GET /_ping through the proxy's socket until it answers. */
async function waitForProxy(socketPath: string, describe: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    try {
      const ping = await dockerApi(socketPath, "GET", "/_ping");
      if (ping.status === 200) return;
      last = `GET /_ping answered ${ping.status}`;
    } catch (error) {
      // ENOENT until the proxy creates its socket.
      last = String(error);
    }
    await sleep(100);
  }
  throw new Error(`no proxy answering on ${socketPath} within ${READY_TIMEOUT_MS} ms (${last})\n${await describe()}`);
}
