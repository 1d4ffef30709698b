/**
 * Startup: turns the cgroup-parent setting into the parent every container
 * will get, once, and says in the log what was found and how.
 *
 * Only a bad explicit value stops startup (ConfigError, exit 2): that is a
 * mistake in how the proxy was started. Everything else that goes wrong
 * (not in a container, no parent set, daemon not answering yet) leaves the
 * proxy serving all other calls and refusing container creates and builds
 * with the reason, because a CI job that cannot run containers says so
 * loudly, while one whose children silently escape the agent's cgroup does not.
 */
import type { Logger } from "pino";
import { availableParent, type CgroupParentResolution, type CgroupParentSetting, unavailableParent } from "./cgroup-parent.js";
import { daemonQueries, type DaemonQueries } from "./daemon-queries.js";
import { checkCgroupParentValueForDriver } from "./explicit-value.js";
import { findOwnContainer, short } from "./find-own-container.js";
import { type OwnContainerEvidence, processEvidence } from "./own-container-evidence.js";

export interface CgroupParentStartup {
  readonly dockerSocket: string;
  readonly log: Logger;
  /** Defaults to this process's hostname and /proc/self files. */
  readonly evidence?: OwnContainerEvidence;
  /** Defaults to unversioned calls on dockerSocket. */
  readonly daemon?: DaemonQueries;
}

/** undefined when the feature is off; throws ConfigError for an explicit value the daemon's driver cannot take. */
export async function resolveCgroupParent(
  setting: CgroupParentSetting,
  startup: CgroupParentStartup,
): Promise<CgroupParentResolution | undefined> {
  if (setting.mode === "off") return undefined;
  const daemon = startup.daemon ?? daemonQueries(startup.dockerSocket);
  const resolution =
    setting.mode === "explicit"
      ? await explicitParent(setting.value, daemon, startup.dockerSocket)
      : await detectedParent(startup.evidence ?? processEvidence(), daemon, startup.dockerSocket);
  if (resolution.available) {
    startup.log.info({ cgroupParent: resolution.parent, origin: resolution.origin }, "cgroup parent for created containers");
  } else {
    startup.log.warn({ reason: resolution.reason }, "no cgroup parent: container creates and builds will be refused");
  }
  return resolution;
}

async function explicitParent(value: string, daemon: DaemonQueries, dockerSocket: string): Promise<CgroupParentResolution> {
  let driver: string;
  try {
    driver = await daemon.cgroupDriver();
  } catch (error) {
    return unavailableParent(`the daemon at ${dockerSocket} could not be asked for its cgroup driver at startup, to check --cgroup-parent-value (${messageOf(error)})`);
  }
  checkCgroupParentValueForDriver(value, driver);
  return availableParent(value, `--cgroup-parent-value, ${driver} driver`);
}

async function detectedParent(evidence: OwnContainerEvidence, daemon: DaemonQueries, dockerSocket: string): Promise<CgroupParentResolution> {
  let search;
  try {
    search = await findOwnContainer(evidence, daemon);
  } catch (error) {
    return unavailableParent(`the daemon at ${dockerSocket} could not be asked at startup which container the proxy runs in (${messageOf(error)})`);
  }
  if (!search.found) {
    return unavailableParent(
      `the proxy is not running in a container of the daemon at ${dockerSocket} (${search.deadEnds.join("; ")}); ` +
        "run it in the CI agent's container, or give it --cgroup-parent-value",
    );
  }
  const { container, foundBy } = search;
  if (container.cgroupParent === "") {
    return unavailableParent(
      `the proxy's container ${short(container.id)} (found by ${foundBy}) has no cgroup parent; ` +
        "start that container with --cgroup-parent, or give the proxy --cgroup-parent-value",
    );
  }
  return availableParent(container.cgroupParent, `container ${short(container.id)}, found by ${foundBy}`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
