import { readFileSync } from "node:fs";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import type { DaemonQueries } from "./daemon-queries.js";
import type { OwnContainerEvidence } from "./own-container-evidence.js";
import { resolveCgroupParent } from "./resolve-cgroup-parent.js";

const sample = (name: string) => readFileSync(new URL(`../../test/fixtures/proc-samples/${name}`, import.meta.url), "utf8");
const PARENT_SAMPLE_ID = "0c4f5816aaa97fcc6c3c9affa65f03b1129541595f1b0496d24577d176e6e195";

const inContainer: OwnContainerEvidence = {
  hostname: () => sample("v1-cgroupfs-parent.hostname").trim(),
  mountinfo: async () => sample("v1-cgroupfs-parent.mountinfo"),
  procCgroup: async () => sample("v1-cgroupfs-parent.cgroup"),
};

function daemonWith(options: { parent?: string; driver?: string; fail?: Error }): DaemonQueries & { calls: number } {
  const daemon = {
    calls: 0,
    async inspectContainer(idOrPrefix: string) {
      daemon.calls++;
      if (options.fail) throw options.fail;
      return PARENT_SAMPLE_ID.startsWith(idOrPrefix) ? { id: PARENT_SAMPLE_ID, cgroupParent: options.parent ?? "" } : undefined;
    },
    async cgroupDriver() {
      daemon.calls++;
      if (options.fail) throw options.fail;
      return options.driver ?? "cgroupfs";
    },
  };
  return daemon;
}

function capturingLog() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

describe("resolveCgroupParent", () => {
  it("is undefined when off, without asking the daemon anything", async () => {
    const daemon = daemonWith({ parent: "/x" });
    expect(await resolveCgroupParent({ mode: "off" }, { dockerSocket: "/d.sock", log: capturingLog().log, daemon })).toBeUndefined();
    expect(daemon.calls).toBe(0);
  });

  it("detects the parent of the proxy's own container and logs it and how it was found", async () => {
    const { log, lines } = capturingLog();
    const resolution = await resolveCgroupParent({ mode: "detect" }, { dockerSocket: "/d.sock", log, daemon: daemonWith({ parent: "/x" }), evidence: inContainer });
    expect(resolution).toEqual({ available: true, parent: "/x", origin: "container 0c4f5816aaa9, found by hostname" });
    expect(lines).toEqual([expect.objectContaining({ level: 30, cgroupParent: "/x", origin: "container 0c4f5816aaa9, found by hostname" })]);
  });

  it("is unavailable, naming the container and the fix, when that container has no parent", async () => {
    const { log, lines } = capturingLog();
    const resolution = await resolveCgroupParent({ mode: "detect" }, { dockerSocket: "/d.sock", log, daemon: daemonWith({ parent: "" }), evidence: inContainer });
    expect(resolution).toEqual({
      available: false,
      reason: "the proxy's container 0c4f5816aaa9 (found by hostname) has no cgroup parent; start that container with --cgroup-parent, or give the proxy --cgroup-parent-value",
    });
    expect(lines[0]).toMatchObject({ level: 40, reason: expect.stringContaining("no cgroup parent") });
  });

  it("is unavailable when the proxy does not run in a container of that daemon", async () => {
    const notAContainer: OwnContainerEvidence = {
      hostname: () => "ci-runner-01",
      mountinfo: async () => sample("v2-host-session.mountinfo"),
      procCgroup: async () => sample("v2-host-session.cgroup"),
    };
    const resolution = await resolveCgroupParent({ mode: "detect" }, { dockerSocket: "/d.sock", log: capturingLog().log, daemon: daemonWith({}), evidence: notAContainer });
    expect(resolution).toMatchObject({ available: false });
    if (resolution?.available !== false) return;
    expect(resolution.reason).toMatch(/^the proxy is not running in a container of the daemon at \/d\.sock \(hostname "ci-runner-01" is not a short container ID; /);
    expect(resolution.reason).toMatch(/give it --cgroup-parent-value$/);
  });

  it("is unavailable (not a crash) when the daemon cannot be asked at startup", async () => {
    const resolution = await resolveCgroupParent(
      { mode: "detect" },
      { dockerSocket: "/d.sock", log: capturingLog().log, daemon: daemonWith({ fail: new Error("connect ECONNREFUSED /d.sock") }), evidence: inContainer },
    );
    expect(resolution).toEqual({
      available: false,
      reason: "the daemon at /d.sock could not be asked at startup which container the proxy runs in (connect ECONNREFUSED /d.sock)",
    });
  });

  it("takes an explicit value the daemon's driver accepts, without looking for a container", async () => {
    const daemon = daemonWith({ driver: "systemd" });
    const resolution = await resolveCgroupParent({ mode: "explicit", value: "ci-agent.slice" }, { dockerSocket: "/d.sock", log: capturingLog().log, daemon });
    expect(resolution).toEqual({ available: true, parent: "ci-agent.slice", origin: "--cgroup-parent-value, systemd driver" });
    expect(daemon.calls).toBe(1);
  });

  it("throws a ConfigError for an explicit value the driver cannot take", async () => {
    const startup = { dockerSocket: "/d.sock", log: capturingLog().log, daemon: daemonWith({ driver: "systemd" }) };
    await expect(resolveCgroupParent({ mode: "explicit", value: "/ci-agent" }, startup)).rejects.toBeInstanceOf(ConfigError);
  });

  it("is unavailable when the driver cannot be read to check an explicit value", async () => {
    const resolution = await resolveCgroupParent(
      { mode: "explicit", value: "/ci-agent" },
      { dockerSocket: "/d.sock", log: capturingLog().log, daemon: daemonWith({ fail: new Error("no answer to GET /info within 5000 ms") }) },
    );
    expect(resolution).toMatchObject({ available: false, reason: expect.stringContaining("to check --cgroup-parent-value (no answer to GET /info") });
  });
});
