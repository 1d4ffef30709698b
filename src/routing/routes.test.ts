import { describe, expect, it } from "vitest";
import { ProxyError } from "../errors.js";
import { classifyRoute } from "./routes.js";
import { cleanPath, daemonPath } from "./daemon-path.js";

describe("classifyRoute", () => {
  it.each([
    ["/containers/create", "container-create"],
    ["/v1.41/containers/create", "container-create"],
    ["/v1.24/containers/create", "container-create"],
    ["/v01.41/containers/create", "container-create"],
    ["/v1.41.0/containers/create", "container-create"],
    ["/v./containers/create", "container-create"],
    ["/%63ontainers/create", "container-create"],
    ["/containers%2Fcreate", "container-create"],
    ["/containers%2fcreate?name=a", "container-create"],
    ["//containers/create", "container-create"],
    ["/x/../containers/create", "container-create"],
    ["/./containers/./create", "container-create"],
    ["/containers/create/", "container-create"],
    ["/Containers/Create", "container-create"],
    ["/build?t=x", "build"],
    ["/v1.41/networks/create", "network-create"],
    ["/volumes/create", "volume-create"],
    ["/services/create", "service-create"],
    ["/services/abc/update?version=3", "service-update"],
    ["/secrets/create", "secret-create"],
    ["/secrets/s1/update", "secret-update"],
    ["/configs/create", "config-create"],
    ["/configs/c1/update", "config-update"],
    ["/images/create?fromSrc=-", "image-create"],
    ["/commit?container=x", "commit"],
    ["/containers/abc/attach?stream=1", "attach"],
    ["/exec/abc/start", "exec-start"],
    ["/containers/abc/start", "container-start"],
    ["/v1.23/containers/abc/start", "container-start"],
    ["/%63ontainers/abc/start", "container-start"],
    ["/containers/abc%2Fstart", "container-start"],
    ["/containers/abc/Start", "container-start"],
    ["/containers/abc/start/x", "passthrough"],
    ["/containers/web/db/start", "container-start"],
    ["/containers/web%2Fdb/start", "container-start"],
    ["/containers/web/db/attach", "attach"],
    ["/exec/a/b/start", "exec-start"],
    ["/services/a/b/update", "service-update"],
    ["/_ping", "passthrough"],
    ["/containers/create/x", "passthrough"],
  ])("POST %s is %s", (target, kind) => {
    expect(classifyRoute("POST", target, false).kind).toBe(kind);
  });

  it("classifies any method but GET and HEAD (the daemon matches methods exactly; we do not need to)", () => {
    expect(classifyRoute("post", "/containers/create", false).kind).toBe("container-create");
    expect(classifyRoute("PUT", "/containers/create", false).kind).toBe("container-create");
    expect(classifyRoute("GET", "/containers/create", false).kind).toBe("passthrough");
  });

  it("marks attach, exec start and Upgrade requests as possible hijacks", () => {
    expect(classifyRoute("POST", "/containers/x/attach", false).mayHijack).toBe(true);
    expect(classifyRoute("POST", "/v1.41/exec/x/start", false).mayHijack).toBe(true);
    expect(classifyRoute("POST", "/session", true).mayHijack).toBe(true);
    expect(classifyRoute("POST", "/grpc", true)).toMatchObject({ kind: "grpc", mayHijack: true });
    expect(classifyRoute("POST", "/containers/x/start", false).mayHijack).toBe(false);
    // A create asking to Upgrade is still read and rewritten as a create.
    expect(classifyRoute("POST", "/containers/create", true).mayHijack).toBe(false);
  });

  it("refuses invalid percent escapes (the daemon answers 400; we cannot route them)", () => {
    expect(() => classifyRoute("POST", "/containers%2/create", false)).toThrow(ProxyError);
    expect(() => classifyRoute("POST", "/containers%zzcreate", false)).toThrow(ProxyError);
  });
});

describe("daemonPath", () => {
  it("splits version, route and raw query", () => {
    expect(daemonPath("/v1.41/build?labels=%7B%7D&t=a")).toEqual({ route: "/build", version: "1.41", rawQuery: "labels=%7B%7D&t=a" });
  });
  it("cleans like Go's path.Clean", () => {
    expect(cleanPath("/a//b/./c/../d/")).toBe("/a/b/d");
    expect(cleanPath("/../..")).toBe("/");
  });
});
