/**
 * Checks for `--cgroup-parent-value`, the cgroup parent given by hand (an
 * agent that is not itself a container has no parent to detect).
 *
 * The daemon only checks a cgroup parent when a container starts, so a bad
 * value would make every `docker run` fail late and obscurely. It is checked
 * at startup instead, twice: its shape when the options are read, and the
 * daemon's cgroup driver once the daemon can be asked. The two drivers take
 * different things:
 *   cgroupfs: an absolute cgroup path, `/ci-agent` (`/a/b` nests);
 *   systemd:  a slice unit name, `ci-agent.slice` (dashes nest:
 *             `ci-agent.slice` lives inside `ci.slice`).
 */
import { ConfigError } from "../errors.js";

/** `/group` or `/a/b`: no empty, `.` or `..` segment (they would climb out of the tree). */
const CGROUPFS_PATH = /^(\/(?!\.\.?(?:\/|$))[^/\0\r\n]+)+$/;
/** systemd unit name characters, ending in `.slice`, with a name before it. */
const SYSTEMD_SLICE = /^[A-Za-z0-9:_.\\-]+\.slice$/;

export type CgroupParentKind = "cgroupfs-path" | "systemd-slice";

/** The forms the value can take; ConfigError when it fits neither driver. */
export function cgroupParentValueKinds(value: string): CgroupParentKind[] {
  const kinds: CgroupParentKind[] = [];
  if (CGROUPFS_PATH.test(value)) kinds.push("cgroupfs-path");
  if (SYSTEMD_SLICE.test(value)) kinds.push("systemd-slice");
  return kinds;
}

export function checkCgroupParentValueShape(value: string): string {
  if (cgroupParentValueKinds(value).length === 0) {
    throw new ConfigError(
      `--cgroup-parent-value ${JSON.stringify(value)} must be an absolute cgroup path like /ci-agent (cgroupfs driver) ` +
        "or a slice name like ci-agent.slice (systemd driver)",
    );
  }
  return value;
}

/** ConfigError (exit 2) when the daemon's driver cannot take the value. */
export function checkCgroupParentValueForDriver(value: string, driver: string): void {
  const kinds = cgroupParentValueKinds(value);
  const quoted = JSON.stringify(value);
  if (driver === "systemd" && !kinds.includes("systemd-slice")) {
    throw new ConfigError(`--cgroup-parent-value ${quoted}: the daemon uses the systemd cgroup driver, which needs a slice name like ci-agent.slice`);
  }
  if (driver === "cgroupfs" && !kinds.includes("cgroupfs-path")) {
    throw new ConfigError(`--cgroup-parent-value ${quoted}: the daemon uses the cgroupfs cgroup driver, which needs an absolute cgroup path like /ci-agent`);
  }
  if (driver !== "systemd" && driver !== "cgroupfs") {
    throw new ConfigError(`--cgroup-parent-value ${quoted}: the daemon's cgroup driver is ${JSON.stringify(driver)}, which cannot place containers under a cgroup parent`);
  }
}
