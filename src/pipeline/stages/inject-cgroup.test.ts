import { describe, expect, it } from "vitest";
import { availableParent, unavailableParent } from "../../cgroup/cgroup-parent.js";
import { ProxyError } from "../../errors.js";
import type { ProxyRequest } from "../proxy-request.js";
import { testRequest } from "../test-requests.js";
import { classifyStage } from "./classify.js";
import { injectCgroupStage } from "./inject-cgroup.js";

/** A request as the reader hands it over, classified like the pipeline does. */
function classified(method: string, target: string): ProxyRequest {
  // Builds and imports upload a tar; the JSON-rewritten calls must say JSON.
  const contentType = /\/(build|images)/.test(target) ? "application/x-tar" : "application/json";
  const request = testRequest(`${method} ${target} HTTP/1.1\r\nHost: d\r\nContent-Type: ${contentType}\r\nContent-Length: 2\r\n\r\n`);
  return classifyStage.process(request) as ProxyRequest;
}

const CONTAINER_RUNNING_CALLS: Array<[string, string]> = [
  ["POST", "/containers/create"],
  ["POST", "/v1.41/containers/create?name=job"],
  ["POST", "/build?t=x"],
  ["POST", "/v1.41/build?version=1"],
];

const OTHER_CALLS: Array<[string, string]> = [
  ["POST", "/networks/create"],
  ["POST", "/volumes/create"],
  ["POST", "/secrets/create"],
  ["POST", "/configs/create"],
  ["POST", "/commit?container=abc"],
  ["POST", "/images/create?fromSrc=-"],
  ["POST", "/containers/abc/start"],
  ["GET", "/containers/json"],
];

describe("inject-cgroup", () => {
  const available = injectCgroupStage(availableParent("/ci-agent", "test"));
  const unavailable = injectCgroupStage(unavailableParent("the proxy's container 0c4f5816aaa9 (found by hostname) has no cgroup parent"));
  const off = injectCgroupStage(undefined);

  it.each(CONTAINER_RUNNING_CALLS)("puts %s %s under the parent", async (method, target) => {
    const request = await available.process(classified(method, target));
    expect(request.injection).toEqual({ cgroupParent: "/ci-agent" });
  });

  it.each(OTHER_CALLS)("leaves %s %s alone", async (method, target) => {
    const request = await available.process(classified(method, target));
    expect(request.injection.cgroupParent).toBeUndefined();
  });

  it.each(CONTAINER_RUNNING_CALLS)("refuses %s %s with 403 and the reason when there is no parent", (method, target) => {
    const request = classified(method, target);
    let thrown: unknown;
    try {
      unavailable.process(request);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ProxyError);
    expect(thrown).toMatchObject({ name: "RewriteError", code: "DCP_CGROUP_PARENT_UNAVAILABLE", status: 403 });
    expect((thrown as Error).message).toContain("has no cgroup parent");
    expect((thrown as Error).message).toContain("--cgroupparent");
    expect(request.injection.cgroupParent).toBeUndefined();
  });

  it.each(OTHER_CALLS)("still serves %s %s when there is no parent", async (method, target) => {
    const request = await unavailable.process(classified(method, target));
    expect(request.injection.cgroupParent).toBeUndefined();
  });

  it.each([
    ["POST", "/services/create"],
    ["POST", "/v1.41/services/abc/update?version=3"],
  ])("refuses %s %s whenever the feature is on: swarm tasks cannot be put under the parent", (method, target) => {
    for (const stage of [available, unavailable]) {
      expect(() => stage.process(classified(method, target))).toThrow(
        expect.objectContaining({ code: "DCP_CGROUP_PARENT_NOT_APPLICABLE", status: 403 }),
      );
    }
    expect(off.process(classified(method, target))).toMatchObject({ injection: {} });
  });

  it.each(CONTAINER_RUNNING_CALLS)("changes nothing on %s %s when the feature is off", async (method, target) => {
    const request = await off.process(classified(method, target));
    expect(request.injection).toEqual({});
  });
});
