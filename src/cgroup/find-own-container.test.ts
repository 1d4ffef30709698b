import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { ContainerFacts, DaemonQueries } from "./daemon-queries.js";
import { findOwnContainer } from "./find-own-container.js";
import type { OwnContainerEvidence } from "./own-container-evidence.js";

const sample = (name: string) => readFileSync(new URL(`../../test/fixtures/proc-samples/${name}`, import.meta.url), "utf8");

/** The clues a container would see, read from one sample set (undefined: that file cannot be read). */
function evidenceOf(name: string, overrides: Partial<{ hostname: string; mountinfo: string | undefined; procCgroup: string | undefined }> = {}): OwnContainerEvidence {
  const hostname = overrides.hostname ?? sample(`${name}.hostname`).trim();
  const mountinfo = "mountinfo" in overrides ? overrides.mountinfo : sample(`${name}.mountinfo`);
  const procCgroup = "procCgroup" in overrides ? overrides.procCgroup : sample(`${name}.cgroup`);
  return { hostname: () => hostname, mountinfo: async () => mountinfo, procCgroup: async () => procCgroup };
}

interface FakeContainer extends ContainerFacts {
  readonly name?: string;
}

/** Resolves like dockerd: exact name, then full ID, then a unique ID prefix. */
function fakeDaemon(containers: readonly FakeContainer[]): DaemonQueries & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async inspectContainer(idOrPrefix) {
      asked.push(idOrPrefix);
      const byName = containers.find((c) => c.name === idOrPrefix);
      const byId = containers.find((c) => c.id === idOrPrefix);
      const byPrefix = containers.filter((c) => c.id.startsWith(idOrPrefix));
      const found = byName ?? byId ?? (byPrefix.length === 1 ? byPrefix[0] : undefined);
      return found ? { id: found.id, cgroupParent: found.cgroupParent } : undefined;
    },
    async cgroupDriver() {
      return "cgroupfs";
    },
  };
}

const DEFAULT_ID = "2dfcce5e7ad6bb70f938e66cb451c4e2765c97d224d619bdff59bff1942fafe6";
const HOSTNAME_ID = "3e51b4fb35a5926826712a429c07ba5ba3e008924ba095ad07bfe6d81244ef2f";
const PRIVATE_NS_ID = "a33a59ad6e636011ff7d8beb1132df47388330156161cbcf3da80aa6974d27bb";
const SYSTEMD_ID = "762c5eefdb9e4ad3cf46fb1fdfb9b53c7f8ccdc67e58b5d5741a9caa25e9dbf8";

describe("findOwnContainer", () => {
  it("takes the hostname when the daemon confirms it is the start of a container ID", async () => {
    const daemon = fakeDaemon([{ id: DEFAULT_ID, cgroupParent: "/ci" }]);
    const search = await findOwnContainer(evidenceOf("v1-cgroupfs-default"), daemon);
    expect(search).toEqual({ found: true, foundBy: "hostname", container: { id: DEFAULT_ID, cgroupParent: "/ci" } });
    expect(daemon.asked).toEqual(["2dfcce5e7ad6"]);
  });

  it("falls back to /proc/self/mountinfo when --hostname was set", async () => {
    const daemon = fakeDaemon([{ id: HOSTNAME_ID, cgroupParent: "/ci" }]);
    const search = await findOwnContainer(evidenceOf("v1-cgroupfs-hostname"), daemon);
    expect(search).toMatchObject({ found: true, foundBy: "mountinfo", container: { id: HOSTNAME_ID } });
  });

  it("does not take a hostname that is another container's NAME (inspect resolves names first)", async () => {
    const hostname = "abcdefabcdef";
    const daemon = fakeDaemon([
      { id: "9".repeat(64), cgroupParent: "/elsewhere", name: hostname },
      { id: HOSTNAME_ID, cgroupParent: "/ci" },
    ]);
    const search = await findOwnContainer(evidenceOf("v1-cgroupfs-hostname", { hostname }), daemon);
    expect(search).toMatchObject({ found: true, foundBy: "mountinfo", container: { id: HOSTNAME_ID, cgroupParent: "/ci" } });
  });

  it("falls back to /proc/self/cgroup when mountinfo cannot be read", async () => {
    const daemon = fakeDaemon([{ id: SYSTEMD_ID, cgroupParent: "ci-agent.slice" }]);
    const evidence = evidenceOf("v1-systemd-slice-parent", { hostname: "runner", mountinfo: undefined, procCgroup: sample("v1-systemd-slice-parent.cgroup") });
    expect(await findOwnContainer(evidence, daemon)).toMatchObject({ found: true, foundBy: "cgroup", container: { id: SYSTEMD_ID } });
  });

  it("finds a container with a private cgroup namespace through mountinfo", async () => {
    const daemon = fakeDaemon([{ id: PRIVATE_NS_ID, cgroupParent: "" }]);
    const search = await findOwnContainer(evidenceOf("v1-cgroupfs-cgroupns-private", { hostname: "agent" }), daemon);
    expect(search).toMatchObject({ found: true, foundBy: "mountinfo", container: { id: PRIVATE_NS_ID, cgroupParent: "" } });
  });

  it("reports why each clue led nowhere when the daemon knows none of the IDs (another daemon's container)", async () => {
    const search = await findOwnContainer(evidenceOf("v1-cgroupfs-default"), fakeDaemon([]));
    expect(search.found).toBe(false);
    if (search.found) return;
    expect(search.deadEnds).toEqual([
      'hostname "2dfcce5e7ad6" is no container ID on this daemon',
      "/proc/self/mountinfo names container 2dfcce5e7ad6, unknown to this daemon",
      "/proc/self/cgroup names 2dfcce5e7ad6, unknown to this daemon",
    ]);
  });

  it("reports a process that is not in a container at all", async () => {
    const search = await findOwnContainer(evidenceOf("v2-host-session"), fakeDaemon([{ id: DEFAULT_ID, cgroupParent: "/ci" }]));
    expect(search).toEqual({
      found: false,
      deadEnds: [
        'hostname "ci-runner-01" is not a short container ID',
        "/proc/self/mountinfo has no /etc/hostname mount from a Docker containers directory",
        "/proc/self/cgroup names no container",
      ],
    });
  });

  it("accepts a 64-hex clue only when the daemon reports exactly that ID", async () => {
    // A daemon answering with a different container for the full ID must not be believed.
    const liar: DaemonQueries = {
      inspectContainer: async () => ({ id: "0".repeat(64), cgroupParent: "/evil" }),
      cgroupDriver: async () => "cgroupfs",
    };
    const search = await findOwnContainer(evidenceOf("v1-cgroupfs-hostname"), liar);
    expect(search.found).toBe(false);
  });

  it("lets a daemon failure through: that is not an answer about the container", async () => {
    const broken: DaemonQueries = {
      inspectContainer: async () => {
        throw new Error("connect ENOENT /var/run/docker.sock");
      },
      cgroupDriver: async () => "cgroupfs",
    };
    await expect(findOwnContainer(evidenceOf("v1-cgroupfs-default"), broken)).rejects.toThrow("ENOENT");
  });
});
