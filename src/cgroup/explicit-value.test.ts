import { describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import { checkCgroupParentValueForDriver, checkCgroupParentValueShape } from "./explicit-value.js";

describe("--cgroup-parent-value shape", () => {
  it.each(["/ci-agent", "/ci/agent-7", "/ci.slice", "ci-agent.slice", "ci.slice", "a-b_c:d.slice"])("accepts %j", (value) => {
    expect(checkCgroupParentValueShape(value)).toBe(value);
  });

  it.each(["", "/", "ci-agent", "ci/agent", "//ci", "/ci/", "/ci/../..", "/./ci", "/ci\nx", ".slice", "ci agent.slice", "a/b.slice"])(
    "refuses %j with a ConfigError naming both forms",
    (value) => {
      expect(() => checkCgroupParentValueShape(value)).toThrow(ConfigError);
      expect(() => checkCgroupParentValueShape(value)).toThrow(/\/ci-agent .*ci-agent\.slice/);
    },
  );
});

describe("--cgroup-parent-value against the daemon's cgroup driver", () => {
  it("takes an absolute path with cgroupfs and a slice with systemd", () => {
    expect(() => checkCgroupParentValueForDriver("/ci-agent", "cgroupfs")).not.toThrow();
    expect(() => checkCgroupParentValueForDriver("ci-agent.slice", "systemd")).not.toThrow();
  });

  it("refuses a path with systemd and a slice name with cgroupfs (exit 2)", () => {
    const systemd = (() => {
      try {
        checkCgroupParentValueForDriver("/ci-agent", "systemd");
      } catch (error) {
        return error;
      }
    })();
    expect(systemd).toBeInstanceOf(ConfigError);
    expect(systemd).toMatchObject({ status: 2, code: "DCP_BAD_OPTION" });
    expect((systemd as Error).message).toMatch(/systemd cgroup driver.*slice name/);
    expect(() => checkCgroupParentValueForDriver("ci-agent.slice", "cgroupfs")).toThrow(/cgroupfs cgroup driver.*absolute cgroup path/);
  });

  it("refuses any value when the daemon has no usable cgroup driver", () => {
    expect(() => checkCgroupParentValueForDriver("/ci-agent", "none")).toThrow(/cgroup driver is "none"/);
  });
});
