// On cgroup v1 the dind sees the host's cgroup hierarchy (bind-mounted in
// default mode, the host cgroup namespace when privileged), so the inner
// daemon creates its containers' cgroups in the HOST tree (`/docker/<id>` or
// `<CgroupParent>/<id>`). stop() kills the dind outright, nobody runs
// `runc delete`, and those empty cgroup directories would pile up with every
// test file. We note them while the inner daemon still answers and rmdir them
// once the dind is gone.
import { readdir, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { dockerApi } from "./docker-api.js";

const CGROUP_ROOT = "/sys/fs/cgroup";

interface ContainerSummary {
  Id: string;
}
interface ContainerInspect {
  HostConfig?: { CgroupParent?: string };
}

/** Cgroup paths (relative to a hierarchy root) of every inner container. */
export async function innerContainerCgroups(innerSocket: string): Promise<string[]> {
  const list = await dockerApi(innerSocket, "GET", "/containers/json?all=1");
  if (list.status !== 200) return [];
  const paths: string[] = [];
  for (const { Id } of JSON.parse(list.body) as ContainerSummary[]) {
    const inspect = await dockerApi(innerSocket, "GET", `/containers/${Id}/json`);
    if (inspect.status !== 200) continue;
    const parent = (JSON.parse(inspect.body) as ContainerInspect).HostConfig?.CgroupParent || "/docker";
    paths.push(join(parent, Id));
  }
  return paths;
}

/**
 * Best effort: removes each path from every hierarchy it exists in. rmdir
 * only ever removes an EMPTY cgroup, so this cannot harm a live one; EBUSY
 * right after the kill is retried briefly (the kernel reaps asynchronously).
 */
export async function removeCgroups(relativePaths: readonly string[]): Promise<void> {
  if (relativePaths.length === 0) return;
  let hierarchies: string[];
  try {
    const entries = await readdir(CGROUP_ROOT, { withFileTypes: true });
    // cgroup v1: one directory per controller; v2: the root is the hierarchy.
    hierarchies = [CGROUP_ROOT, ...entries.filter((e) => e.isDirectory()).map((e) => join(CGROUP_ROOT, e.name))];
  } catch {
    return;
  }
  for (const hierarchy of hierarchies) {
    for (const relative of relativePaths) {
      await removeEmptyCgroup(join(hierarchy, relative));
    }
  }
}

async function removeEmptyCgroup(path: string): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      await rmdir(path);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EBUSY") return;
      await sleep(100);
    }
  }
}
