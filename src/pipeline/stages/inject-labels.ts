/**
 * inject-labels: puts the configured labels on every resource the request creates.
 * (Identity until the rewriters land.)
 */
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";

export function injectLabelsStage(labels: ReadonlyMap<string, string>): Stage {
  void labels;
  return {
    name: "inject-labels",
    process(request: ProxyRequest): ProxyRequest {
      return request;
    },
  };
}
