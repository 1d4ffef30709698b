// Stages are the extension point: a user adds one programmatically, without
// touching the built-in ones, and it sees every request after the injections.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProxyRequest, type RunningProxy, type Stage, RequestRefusedError, startProxy } from "../../src/index.js";
import { BUSYBOX_IMAGE, type Dind, dockerApi, startDind } from "./support/dind.js";

let dind: Dind;
let proxy: RunningProxy;
const seen: string[] = [];

/** Refuses `docker kill` and remembers every route it saw. */
const noKillStage: Stage = {
  name: "no-kill",
  process(request: ProxyRequest) {
    seen.push(`${request.head.method} ${request.route?.path}`);
    if (request.route && /^\/containers\/[^/]+\/kill$/.test(request.route.path)) {
      throw new RequestRefusedError("DCP_BAD_REQUEST", "docker kill is not allowed in this CI", 403);
    }
    return request;
  },
};

beforeAll(async () => {
  dind = await startDind();
  proxy = await startProxy({
    dockerSocket: dind.socketPath,
    listenSocket: join(mkdtempSync(join(tmpdir(), "dcp-stage-")), "proxy.sock"),
    listenMode: 0o660,
    listenGid: undefined,
    labels: new Map([["Created-Via", "dockerd-ci-proxy"]]),
    maxBodyBytes: 1024 * 1024,
    maxHeaderBytes: 64 * 1024,
    shutdownGraceMs: 1000,
    extraStages: [noKillStage],
    log: pino({ level: "silent" }),
  });
});

afterAll(async () => {
  await proxy?.stop();
  await dind?.stop();
});

describe("a user-defined stage", () => {
  it("sees requests and can refuse one with its own status and message", async () => {
    const created = await dockerApi(proxy.socketPath, "POST", "/containers/create", { Image: BUSYBOX_IMAGE, Cmd: ["sleep", "60"] });
    expect(created.status).toBe(201);
    const id = (JSON.parse(created.body) as { Id: string }).Id;
    expect((await dockerApi(proxy.socketPath, "POST", `/containers/${id}/start`)).status).toBe(204);

    const kill = await dockerApi(proxy.socketPath, "POST", `/v1.41/containers/${id}/kill`);
    expect(kill.status).toBe(403);
    expect(kill.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(kill.body)).toEqual({ message: "docker kill is not allowed in this CI" });

    // Refused means never forwarded: the container still runs.
    const inspect = await dockerApi(dind.socketPath, "GET", `/containers/${id}/json`);
    expect((JSON.parse(inspect.body) as { State: { Running: boolean } }).State.Running).toBe(true);
    expect(seen).toContain("POST /containers/create");
    expect(seen).toContain(`POST /containers/${id}/kill`);
  });
});
