/**
 * Container IDs in /proc/self/cgroup (`hierarchy:controllers:path` lines).
 *
 * Docker's cgroupfs driver names a container's cgroup `<parent>/<64 hex id>`
 * (`/docker/<id>` by default); its systemd driver names it
 * `<parent>.slice/docker-<id>.scope`. Paths are relative to the reader's
 * cgroup namespace: with a private namespace (the default on cgroup v2) the
 * container sees only `0::/` and this finds nothing, which is expected.
 *
 * Within a path the DEEPEST ID-like segment wins: nested setups put more
 * below the container (`…/docker-<id>.scope/init`, a dind's `/docker/<outer>/
 * docker/<inner>`), and the innermost container is this process's own.
 */
const CGROUPFS_SEGMENT = /^([0-9a-f]{64})$/;
const SYSTEMD_SEGMENT = /^docker-([0-9a-f]{64})\.scope$/;

/** Candidate IDs in the order the file names them, without repeats. */
export function containerIdsFromProcCgroup(procCgroup: string): string[] {
  const ids: string[] = [];
  for (const line of procCgroup.split("\n")) {
    const path = cgroupPathOf(line);
    if (path === undefined) continue;
    const id = deepestContainerId(path);
    if (id !== undefined && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

function cgroupPathOf(line: string): string | undefined {
  // The path itself may contain ':', so only the first two separate fields.
  const first = line.indexOf(":");
  const second = first === -1 ? -1 : line.indexOf(":", first + 1);
  return second === -1 ? undefined : line.slice(second + 1).trim();
}

function deepestContainerId(path: string): string | undefined {
  const segments = path.split("/");
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = segments[i]!;
    const id = CGROUPFS_SEGMENT.exec(segment)?.[1] ?? SYSTEMD_SEGMENT.exec(segment)?.[1];
    if (id !== undefined) return id;
  }
  return undefined;
}
