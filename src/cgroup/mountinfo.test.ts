import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { containerIdFromMountinfo } from "./mountinfo.js";

// Real and hand-written samples; see test/fixtures/proc-samples/README.md.
const sample = (name: string) => readFileSync(new URL(`../../test/fixtures/proc-samples/${name}`, import.meta.url), "utf8");

describe("containerIdFromMountinfo", () => {
  it.each([
    ["v1-cgroupfs-default.mountinfo", "2dfcce5e7ad6bb70f938e66cb451c4e2765c97d224d619bdff59bff1942fafe6"],
    ["v1-cgroupfs-parent.mountinfo", "0c4f5816aaa97fcc6c3c9affa65f03b1129541595f1b0496d24577d176e6e195"],
    // --hostname changes the hostname, not the file's source.
    ["v1-cgroupfs-hostname.mountinfo", "3e51b4fb35a5926826712a429c07ba5ba3e008924ba095ad07bfe6d81244ef2f"],
    ["v1-cgroupfs-cgroupns-private.mountinfo", "a33a59ad6e636011ff7d8beb1132df47388330156161cbcf3da80aa6974d27bb"],
    // Data root on its own tmpfs: the root field starts at /containers/.
    ["v1-cgroupfs-dind-tmpfs-data-root.mountinfo", "c51b2c525bae1e019e52f1c1a90f34c6308c14b509eb5eb30d6d657925fcb48b"],
    ["v1-systemd-default.mountinfo", "762c5eefdb9e4ad3cf46fb1fdfb9b53c7f8ccdc67e58b5d5741a9caa25e9dbf8"],
    ["v2-systemd-private-ns.mountinfo", "72a31628aa64f77a9b888ac78e1e0435432df2b8b78fffa9c00a79ab8e9e4565"],
  ])("reads the ID from the /etc/hostname bind mount in %s", (name, id) => {
    expect(containerIdFromMountinfo(sample(name))).toBe(id);
  });

  it("with --network container:X, names X (whose /etc/hostname the container shares)", () => {
    expect(containerIdFromMountinfo(sample("v1-cgroupfs-network-container.mountinfo"))).toBe(
      "2dfcce5e7ad6bb70f938e66cb451c4e2765c97d224d619bdff59bff1942fafe6",
    );
  });

  it("finds nothing on a host, even with 64-hex overlay layer paths in other lines", () => {
    const host = sample("v2-host-session.mountinfo");
    expect(host).toMatch(/[0-9a-f]{64}/);
    expect(containerIdFromMountinfo(host)).toBeUndefined();
  });

  it("never takes a 64-hex string from another line (a layer, a volume, resolv.conf)", () => {
    const withoutHostnameLine = sample("v1-systemd-default.mountinfo")
      .split("\n")
      .filter((line) => !line.includes(" /etc/hostname "))
      .join("\n");
    expect(withoutHostnameLine).toMatch(/containers\/[0-9a-f]{64}\/resolv\.conf/);
    expect(containerIdFromMountinfo(withoutHostnameLine)).toBeUndefined();
  });

  it("ignores an /etc/hostname mounted from anywhere but a containers directory (e.g. a Kubernetes pod)", () => {
    const id = "a".repeat(64);
    const kubelet = `2000 1990 8:1 /var/lib/kubelet/pods/${id}/etc-hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw\n`;
    expect(containerIdFromMountinfo(kubelet)).toBeUndefined();
  });

  it("decodes the kernel's octal escapes (a data root with a space)", () => {
    const id = "b".repeat(64);
    const line = `900 800 8:1 /srv/docker\\040data/containers/${id}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n`;
    expect(containerIdFromMountinfo(line)).toBe(id);
  });

  it("uses the last mount on /etc/hostname: the one this process sees", () => {
    const first = "c".repeat(64);
    const last = "d".repeat(64);
    const text =
      `1 0 8:1 /var/lib/docker/containers/${first}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n` +
      `2 0 8:1 /var/lib/docker/containers/${last}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n`;
    expect(containerIdFromMountinfo(text)).toBe(last);
  });

  it("rejects IDs that are not exactly 64 lower-case hex digits", () => {
    const line = (id: string) => `1 0 8:1 /var/lib/docker/containers/${id}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n`;
    expect(containerIdFromMountinfo(line("e".repeat(63)))).toBeUndefined();
    expect(containerIdFromMountinfo(line("E".repeat(64)))).toBeUndefined();
    expect(containerIdFromMountinfo("")).toBeUndefined();
  });
});
