import { describe, expect, it } from "vitest";
import type { ProxyRequest } from "../proxy-request.js";
import { testRequest } from "../test-requests.js";
import { refuseBuildKitStage } from "./refuse-buildkit.js";

const request = (head: string): ProxyRequest => testRequest(`${head} HTTP/1.1\r\nHost: d\r\n\r\n`);

describe("refuse-buildkit", () => {
  it.each([
    "POST /build?version=2&t=x",
    "POST /v1.41/build?t=x&version=2&version=1",
    "POST /build?%76ersion=2",
    "POST /grpc",
    "POST /v1.41/grpc",
  ])("refuses %s with 403", (head) => {
    expect(() => refuseBuildKitStage.process(request(head))).toThrow(expect.objectContaining({ code: "DCP_BUILDKIT_REFUSED", status: 403 }));
  });

  it.each([
    "POST /build?t=x",
    "POST /build?version=1",
    "POST /build?version=1&version=2",
    "POST /build?version=",
    "POST /session",
    "GET /_ping",
  ])("lets %s through (the daemon reads the first version: classic builds)", (head) => {
    const given = request(head);
    expect(refuseBuildKitStage.process(given)).toBe(given);
  });
});
