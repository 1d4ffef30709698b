/**
 * inject-cgroup: puts every container the proxy creates under the CI agent's
 * cgroup parent, so the scheduler's reservation for the agent covers its
 * children too. The stage only decides; serialize writes the parent into
 * `HostConfig.CgroupParent` of a container create, and into the `cgroupparent`
 * query of a /build (the classic builder runs its RUN steps in containers
 * there; BuildKit, seen with dockerd 20.10, ignores it).
 *
 * The parent was resolved once at startup. When it could not be, these
 * requests are refused (403) rather than forwarded without it: a child that
 * silently lands outside the agent's cgroup is the failure this feature
 * exists to prevent. For the same reason swarm service creates and updates
 * are refused whenever the feature is on. Other requests are not affected.
 */
import type { CgroupParentResolution } from "../../cgroup/cgroup-parent.js";
import { RewriteError } from "../../errors.js";
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";

/** `parent` undefined: the feature is off and the stage changes nothing. */
export function injectCgroupStage(parent: CgroupParentResolution | undefined): Stage {
  return {
    name: "inject-cgroup",
    process(request: ProxyRequest): ProxyRequest {
      if (parent === undefined) return request;
      if (request.plan?.kind === "json-body" && request.plan.target === "service") throw swarmTasks();
      if (!runsContainers(request)) return request;
      if (!parent.available) throw unavailable(parent.reason);
      request.injection.cgroupParent = parent.parent;
      return request;
    },
  };
}

function runsContainers(request: ProxyRequest): boolean {
  const plan = request.plan;
  return (plan?.kind === "json-body" && plan.target === "container") || (plan?.kind === "query" && plan.target === "build");
}

/**
 * A service's task containers are created by swarm, on whatever node it
 * picks, with no field for a cgroup parent: they cannot share the agent's
 * reservation, so with the feature on, service creates and updates (an
 * update starts new tasks) are refused like a container without a parent.
 */
function swarmTasks(): RewriteError {
  return new RewriteError(
    "DCP_CGROUP_PARENT_NOT_APPLICABLE",
    "dockerd-ci-proxy creates containers only under the CI agent's cgroup parent (--cgroupparent), and a swarm service's task containers cannot be put there; create services on the daemon directly, or run the proxy without --cgroupparent",
    403,
  );
}

function unavailable(reason: string): RewriteError {
  return new RewriteError(
    "DCP_CGROUP_PARENT_UNAVAILABLE",
    `dockerd-ci-proxy creates containers only under the CI agent's cgroup parent (--cgroupparent), and has none: ${reason}`,
    403,
  );
}
