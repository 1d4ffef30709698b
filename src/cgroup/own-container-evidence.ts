/**
 * Where the proxy looks for clues about the container it runs in. Injectable
 * so that unit tests can feed real samples instead of this machine's files.
 */
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";

export interface OwnContainerEvidence {
  /** This host's name: Docker's default is the short container ID. */
  hostname(): string;
  /** /proc/self/mountinfo, or undefined when it cannot be read (not Linux, no /proc). */
  mountinfo(): Promise<string | undefined>;
  /** /proc/self/cgroup, or undefined when it cannot be read. */
  procCgroup(): Promise<string | undefined>;
}

export interface EvidencePaths {
  readonly mountinfo: string;
  readonly procCgroup: string;
}

export const PROC_SELF_PATHS: EvidencePaths = { mountinfo: "/proc/self/mountinfo", procCgroup: "/proc/self/cgroup" };

/** The evidence of this process, or of the files at `paths`. */
export function processEvidence(paths: EvidencePaths = PROC_SELF_PATHS, readHostname: () => string = hostname): OwnContainerEvidence {
  return {
    hostname: readHostname,
    mountinfo: () => readIfPresent(paths.mountinfo),
    procCgroup: () => readIfPresent(paths.procCgroup),
  };
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    // Missing or unreadable is an answer ("no clue here"), not a failure.
    return undefined;
  }
}
