/**
 * The two questions startup asks the daemon: "what is container X?" and
 * "which cgroup driver do you use?".
 *
 * Asked UNVERSIONED, so the daemon answers at its own API version: Docker
 * 29.0–29.2 refuse versions below 1.44, and both fields read here have been
 * in every version. Each call has a timeout, because a daemon that accepts
 * connections but never answers must not hang startup.
 */
import { daemonClient } from "../daemon-client.js";

const TIMEOUT_MS = 5_000;

/** The parts of `GET /containers/{id}/json` that startup reads. */
export interface ContainerFacts {
  readonly id: string;
  /** `""` when the container was started without `--cgroup-parent`. */
  readonly cgroupParent: string;
}

export interface DaemonQueries {
  /** undefined when the daemon has no such container (or the prefix is ambiguous). */
  inspectContainer(idOrPrefix: string): Promise<ContainerFacts | undefined>;
  /** `GET /info` → `CgroupDriver`: "cgroupfs", "systemd", "none", … */
  cgroupDriver(): Promise<string>;
}

export function daemonQueries(dockerSocket: string): DaemonQueries {
  return {
    async inspectContainer(idOrPrefix) {
      const { status, body } = await getJson(dockerSocket, `/containers/${encodeURIComponent(idOrPrefix)}/json`);
      // 404: no such container; 400 on old daemons / 409 on some for an ambiguous prefix.
      if (status === 404 || status === 400 || status === 409) return undefined;
      if (status !== 200) throw new Error(`GET /containers/${idOrPrefix}/json answered ${status}`);
      const inspect = body as { Id?: unknown; HostConfig?: { CgroupParent?: unknown } | null };
      if (typeof inspect.Id !== "string") throw new Error(`GET /containers/${idOrPrefix}/json has no Id`);
      const parent = inspect.HostConfig?.CgroupParent;
      return { id: inspect.Id, cgroupParent: typeof parent === "string" ? parent : "" };
    },
    async cgroupDriver() {
      const { status, body } = await getJson(dockerSocket, "/info");
      if (status !== 200) throw new Error(`GET /info answered ${status}`);
      const driver = (body as { CgroupDriver?: unknown }).CgroupDriver;
      if (typeof driver !== "string") throw new Error("GET /info has no CgroupDriver");
      return driver;
    },
  };
}

async function getJson(socketPath: string, path: string): Promise<{ status: number; body: unknown }> {
  const { status, body } = await daemonClient(socketPath, TIMEOUT_MS).call("GET", path);
  try {
    return { status, body: status === 200 ? (JSON.parse(body) as unknown) : body };
  } catch (error) {
    throw new Error(`${path} answered invalid JSON`, { cause: error });
  }
}
