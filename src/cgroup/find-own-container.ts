/**
 * Finds the container this process runs in, as the daemon knows it.
 *
 * Every clue is only a candidate until the daemon confirms it: a hostname
 * may be set by hand (`--hostname`) or be another container's NAME (inspect
 * resolves names first), and the proxy may forward to a daemon other than
 * the one running it. Clues, most specific last, are tried in this order:
 *
 *   1. hostname: 12 hex digits, confirmed when the daemon's full Id starts
 *      with them (cheap: no file to read, one call);
 *   2. /proc/self/mountinfo: the ID in the /etc/hostname bind mount's source,
 *      which survives `--hostname`;
 *   3. /proc/self/cgroup: IDs in the cgroup paths (cgroup v1, or v2 with the
 *      host's cgroup namespace).
 *
 * Known limit: with `--network container:X` the hostname and /etc/hostname
 * are X's, so X is found; X is normally the pod-like container whose cgroup
 * parent the agent shares.
 */
import { containerIdPrefixFromHostname } from "./hostname.js";
import { containerIdFromMountinfo } from "./mountinfo.js";
import type { OwnContainerEvidence } from "./own-container-evidence.js";
import { containerIdsFromProcCgroup } from "./proc-cgroup.js";
import type { ContainerFacts, DaemonQueries } from "./daemon-queries.js";

export type FoundBy = "hostname" | "mountinfo" | "cgroup";

export type OwnContainerSearch =
  | { readonly found: true; readonly container: ContainerFacts; readonly foundBy: FoundBy }
  | { readonly found: false; /** One sentence per clue, saying why it led nowhere. */ readonly deadEnds: readonly string[] };

/** Throws only when the daemon cannot be asked; "not a container" is a result. */
export async function findOwnContainer(evidence: OwnContainerEvidence, daemon: DaemonQueries): Promise<OwnContainerSearch> {
  const deadEnds: string[] = [];

  const hostname = evidence.hostname();
  const prefix = containerIdPrefixFromHostname(hostname);
  if (prefix === undefined) {
    deadEnds.push(`hostname ${JSON.stringify(hostname)} is not a short container ID`);
  } else {
    const container = await daemon.inspectContainer(prefix);
    if (container?.id.startsWith(prefix)) return { found: true, container, foundBy: "hostname" };
    deadEnds.push(`hostname ${JSON.stringify(hostname)} is no container ID on this daemon`);
  }

  const mountinfo = await evidence.mountinfo();
  const mountinfoId = mountinfo === undefined ? undefined : containerIdFromMountinfo(mountinfo);
  if (mountinfo === undefined) {
    deadEnds.push("/proc/self/mountinfo cannot be read");
  } else if (mountinfoId === undefined) {
    deadEnds.push("/proc/self/mountinfo has no /etc/hostname mount from a Docker containers directory");
  } else {
    const container = await confirmed(daemon, mountinfoId);
    if (container) return { found: true, container, foundBy: "mountinfo" };
    deadEnds.push(`/proc/self/mountinfo names container ${short(mountinfoId)}, unknown to this daemon`);
  }

  const procCgroup = await evidence.procCgroup();
  const cgroupIds = procCgroup === undefined ? [] : containerIdsFromProcCgroup(procCgroup);
  if (procCgroup === undefined) {
    deadEnds.push("/proc/self/cgroup cannot be read");
  } else if (cgroupIds.length === 0) {
    deadEnds.push("/proc/self/cgroup names no container");
  } else {
    for (const id of cgroupIds) {
      const container = await confirmed(daemon, id);
      if (container) return { found: true, container, foundBy: "cgroup" };
    }
    deadEnds.push(`/proc/self/cgroup names ${cgroupIds.map(short).join(", ")}, unknown to this daemon`);
  }

  return { found: false, deadEnds };
}

/** A full 64-hex ID counts only when the daemon reports exactly that ID. */
async function confirmed(daemon: DaemonQueries, fullId: string): Promise<ContainerFacts | undefined> {
  const container = await daemon.inspectContainer(fullId);
  return container?.id === fullId ? container : undefined;
}

export function short(id: string): string {
  return id.slice(0, 12);
}
