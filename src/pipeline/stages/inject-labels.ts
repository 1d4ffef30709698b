/**
 * inject-labels: every request that creates a resource gets the configured
 * labels. The stage only decides; serialize writes them into the body or
 * query, so that a body is parsed and printed once whatever is injected.
 */
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";

export function injectLabelsStage(labels: ReadonlyMap<string, string>): Stage {
  return {
    name: "inject-labels",
    process(request: ProxyRequest): ProxyRequest {
      if (request.plan && request.plan.kind !== "passthrough") request.injection.labels = labels;
      return request;
    },
  };
}
