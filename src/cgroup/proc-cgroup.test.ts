import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { containerIdsFromProcCgroup } from "./proc-cgroup.js";

// Real and hand-written samples; see test/fixtures/proc-samples/README.md.
const sample = (name: string) => readFileSync(new URL(`../../test/fixtures/proc-samples/${name}`, import.meta.url), "utf8");

describe("containerIdsFromProcCgroup", () => {
  it.each([
    // cgroup v1, cgroupfs driver: /docker/<id> and <parent>/<id> (collected here).
    ["v1-cgroupfs-default.cgroup", "2dfcce5e7ad6bb70f938e66cb451c4e2765c97d224d619bdff59bff1942fafe6"],
    ["v1-cgroupfs-parent.cgroup", "0c4f5816aaa97fcc6c3c9affa65f03b1129541595f1b0496d24577d176e6e195"],
    ["v1-cgroupfs-hostname.cgroup", "3e51b4fb35a5926826712a429c07ba5ba3e008924ba095ad07bfe6d81244ef2f"],
    ["v1-cgroupfs-dind-tmpfs-data-root.cgroup", "c51b2c525bae1e019e52f1c1a90f34c6308c14b509eb5eb30d6d657925fcb48b"],
    // Its own ID, even where hostname and /etc/hostname are another container's.
    ["v1-cgroupfs-network-container.cgroup", "62e9daf68c5d3f81cbd5350daffbe5e2af4522e8c6e334b4e0fe5ffd9489d7be"],
    // systemd driver: docker-<id>.scope, under system.slice or a nested parent slice.
    ["v1-systemd-default.cgroup", "762c5eefdb9e4ad3cf46fb1fdfb9b53c7f8ccdc67e58b5d5741a9caa25e9dbf8"],
    ["v1-systemd-slice-parent.cgroup", "762c5eefdb9e4ad3cf46fb1fdfb9b53c7f8ccdc67e58b5d5741a9caa25e9dbf8"],
    // cgroup v2 with the host's cgroup namespace.
    ["v2-systemd-host-ns-slice-parent.cgroup", "f7f5ad60f7a891d5c1a77ca2f407e38301f5e1a2fc63fc0616786ecfe4888b1b"],
    ["v2-cgroupfs-host-ns-parent.cgroup", "f7f5ad60f7a891d5c1a77ca2f407e38301f5e1a2fc63fc0616786ecfe4888b1b"],
  ])("finds the container in %s", (name, id) => {
    expect(containerIdsFromProcCgroup(sample(name))).toEqual([id]);
  });

  it.each([
    // A private cgroup namespace shows only the root.
    "v1-cgroupfs-cgroupns-private.cgroup",
    "v2-systemd-private-ns.cgroup",
    "v2-dind-entrypoint.cgroup",
    "v2-host-session.cgroup",
  ])("finds nothing in %s", (name) => {
    expect(containerIdsFromProcCgroup(sample(name))).toEqual([]);
  });

  it("takes the deepest container of a nested path (the innermost container is this one)", () => {
    const outer = "1".repeat(64);
    const inner = "2".repeat(64);
    expect(containerIdsFromProcCgroup(`4:memory:/docker/${outer}/docker/${inner}\n`)).toEqual([inner]);
    expect(containerIdsFromProcCgroup(`0::/system.slice/docker-${inner}.scope/init\n`)).toEqual([inner]);
  });

  it("lists different IDs in file order without repeats (hierarchies can disagree)", () => {
    const a = "a".repeat(64);
    const b = "b".repeat(64);
    expect(containerIdsFromProcCgroup(`2:cpu:/docker/${a}\n1:memory:/other/${b}\n0::/docker/${a}\n`)).toEqual([a, b]);
  });

  it("ignores segments that only look similar", () => {
    expect(containerIdsFromProcCgroup(`1:memory:/process_api/${"f".repeat(32)}\n`)).toEqual([]);
    expect(containerIdsFromProcCgroup(`1:memory:/docker/${"F".repeat(64)}\n`)).toEqual([]);
    expect(containerIdsFromProcCgroup(`1:memory:/system.slice/crio-${"a".repeat(64)}.scope\n`)).toEqual([]);
    expect(containerIdsFromProcCgroup("not a cgroup file")).toEqual([]);
  });

  it("keeps ':' inside a path", () => {
    const id = "c".repeat(64);
    expect(containerIdsFromProcCgroup(`3:name=systemd:/weird:dir/${id}\n`)).toEqual([id]);
  });
});
