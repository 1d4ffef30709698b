import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { daemonQueries } from "./daemon-queries.js";

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** A stand-in daemon on a UNIX socket: answers from `routes`, records the paths asked. */
async function fakeDockerd(routes: Record<string, [number, unknown]>): Promise<{ socket: string; paths: string[] }> {
  const socket = join(mkdtempSync(join(tmpdir(), "dcp-dq-")), "d.sock");
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    const [status, body] = routes[req.url ?? ""] ?? [404, { message: "page not found" }];
    res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return { socket, paths };
}

const ID = "0c4f5816aaa97fcc6c3c9affa65f03b1129541595f1b0496d24577d176e6e195";

describe("daemonQueries", () => {
  it("inspects a container UNVERSIONED and reads Id and HostConfig.CgroupParent", async () => {
    const daemon = await fakeDockerd({ "/containers/0c4f5816aaa9/json": [200, { Id: ID, HostConfig: { CgroupParent: "/x" } }] });
    expect(await daemonQueries(daemon.socket).inspectContainer("0c4f5816aaa9")).toEqual({ id: ID, cgroupParent: "/x" });
    expect(daemon.paths).toEqual(["GET /containers/0c4f5816aaa9/json"]);
  });

  it("reads a missing or null HostConfig as no parent", async () => {
    const daemon = await fakeDockerd({ [`/containers/${ID}/json`]: [200, { Id: ID, HostConfig: null }] });
    expect(await daemonQueries(daemon.socket).inspectContainer(ID)).toEqual({ id: ID, cgroupParent: "" });
  });

  it("answers undefined for a container the daemon does not know", async () => {
    const daemon = await fakeDockerd({});
    expect(await daemonQueries(daemon.socket).inspectContainer("deadbeef0000")).toBeUndefined();
  });

  it("throws on other daemon errors: they say nothing about the container", async () => {
    const daemon = await fakeDockerd({ [`/containers/${ID}/json`]: [500, { message: "boom" }] });
    await expect(daemonQueries(daemon.socket).inspectContainer(ID)).rejects.toThrow("answered 500");
  });

  it("reads the cgroup driver from GET /info", async () => {
    const daemon = await fakeDockerd({ "/info": [200, { CgroupDriver: "systemd", CgroupVersion: "2" }] });
    expect(await daemonQueries(daemon.socket).cgroupDriver()).toBe("systemd");
    expect(daemon.paths).toEqual(["GET /info"]);
  });

  it("fails when nothing listens on the socket", async () => {
    const missing = join(mkdtempSync(join(tmpdir(), "dcp-dq-")), "none.sock");
    await expect(daemonQueries(missing).cgroupDriver()).rejects.toThrow(/ENOENT/);
  });
});
