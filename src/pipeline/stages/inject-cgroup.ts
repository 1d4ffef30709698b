/**
 * inject-cgroup: puts every created container under the agent's cgroup parent.
 * (Identity until cgroup-parent support lands.)
 */
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";

export function injectCgroupStage(): Stage {
  return {
    name: "inject-cgroup",
    process(request: ProxyRequest): ProxyRequest {
      return request;
    },
  };
}
