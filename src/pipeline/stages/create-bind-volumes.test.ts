import { describe, expect, it } from "vitest";
import type { DaemonClient } from "../../daemon-client.js";
import type { CgroupParentResolution } from "../../cgroup/cgroup-parent.js";
import type { BindVolume } from "../../rewrite/bind-volumes.js";
import { pipelineOf } from "../stage.js";
import { defaultStages } from "../default-stages.js";
import type { ProxyRequest } from "../proxy-request.js";
import { testRequest } from "../test-requests.js";
import { firstValueFrom, of } from "rxjs";
import { createBindVolumesStage, volumeCreator } from "./create-bind-volumes.js";

const LABELS = new Map([["Created-Via", "dockerd-ci-proxy"]]);

interface Created {
  volume: BindVolume;
  labels: ReadonlyMap<string, string>;
}

/** A daemon that records each POST /volumes/create and answers it with `answer`. */
function recordingVolumeDaemon(created: Created[], answer: { status: number; body: string } = { status: 201, body: "{}" }): DaemonClient {
  return {
    async call(method, path, json) {
      if (method !== "POST" || path !== "/volumes/create") throw new Error(`unexpected ${method} ${path}`);
      const request = json as { Name: string; Driver?: string; Labels: Record<string, string> };
      created.push({ volume: { name: request.Name, driver: request.Driver ?? "" }, labels: new Map(Object.entries(request.Labels)) });
      return answer;
    },
  };
}

/** The default stages with a recording daemon; returns the request as it leaves them. */
async function throughStages(
  headText: string,
  body: string,
  answer?: { status: number; body: string },
  cgroupParent?: CgroupParentResolution,
): Promise<{ request: ProxyRequest; created: Created[] }> {
  const created: Created[] = [];
  const stages = defaultStages({ labels: LABELS, maxBodyBytes: 1024 * 1024, cgroupParent, daemon: recordingVolumeDaemon(created, answer) });
  const request = await firstValueFrom(of(testRequest(headText, body)).pipe(pipelineOf(stages)));
  return { request, created };
}

const CREATE = (length: number) => `POST /v1.41/containers/create HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

describe("create-bind-volumes", () => {
  it("creates each named volume of HostConfig.Binds with the injected labels before the create goes on", async () => {
    const body = '{"Image":"x","HostConfig":{"Binds":["cache:/c","/host:/h","data:/d:ro"],"VolumeDriver":"local"}}';
    const { request, created } = await throughStages(CREATE(body.length), body);
    expect(request.refusal).toBeUndefined();
    expect(created).toEqual([
      { volume: { name: "cache", driver: "local" }, labels: LABELS },
      { volume: { name: "data", driver: "local" }, labels: LABELS },
    ]);
    // The create itself still carries the client's binds, untouched.
    expect(JSON.parse(request.rewrite.body!.toString()).HostConfig.Binds).toEqual(["cache:/c", "/host:/h", "data:/d:ro"]);
  });

  it("finds a Binds key written with \\u escapes", async () => {
    const body = '{"HostConfig":{"B\\u0069nds":["esc:/e"]}}';
    const { created } = await throughStages(CREATE(body.length), body);
    expect(created.map((c) => c.volume.name)).toEqual(["esc"]);
  });

  it("creates nothing for creates without named volumes, or for other calls", async () => {
    for (const body of ['{"Image":"x"}', '{"Image":"x","HostConfig":{"Binds":["/h:/h","/anon"]}}']) {
      expect((await throughStages(CREATE(body.length), body)).created).toEqual([]);
    }
    const volumeBody = '{"Name":"v","Binds":["x:/x"]}';
    const other = await throughStages(`POST /volumes/create HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: ${volumeBody.length}\r\n\r\n`, volumeBody);
    expect(other.created).toEqual([]);
  });

  it("reads the body the daemon gets: a cgroup parent's added HostConfig hides top-level Binds", async () => {
    const body = '{"Image":"x","Binds":["top:/t"]}';
    const withoutParent = await throughStages(CREATE(body.length), body);
    expect(withoutParent.created.map((c) => c.volume.name)).toEqual(["top"]);

    const withParent = await throughStages(CREATE(body.length), body, undefined, { available: true, parent: "/ci", origin: "explicit" });
    expect(withParent.request.refusal).toBeUndefined();
    expect(JSON.parse(withParent.request.rewrite.body!.toString()).HostConfig).toEqual({ CgroupParent: "/ci" });
    expect(withParent.created).toEqual([]);
  });

  it("refuses the create with the daemon's refusal of a volume, and creates nothing after it", async () => {
    const body = '{"HostConfig":{"Binds":["a:/a","b:/b"]}}';
    const { request, created } = await throughStages(CREATE(body.length), body, { status: 404, body: '{"message":"create a: plugin not found"}' });
    expect(request.refusal).toMatchObject({ code: "DCP_VOLUME_NOT_CREATED", status: 404, message: "create a: plugin not found" });
    expect(created.map((c) => c.volume.name)).toEqual(["a"]);
  });

  it("refuses binds it cannot read with certainty", async () => {
    const body = '{"HostConfig":{"Binds":["a:/a"],"BINDS":["b:/b"]}}';
    const { request, created } = await throughStages(CREATE(body.length), body);
    expect(request.refusal?.code).toBe("DCP_AMBIGUOUS_FIELD");
    expect(created).toEqual([]);
  });

  it("is a no-op on a request that carries no labels to inject", () => {
    const stage = createBindVolumesStage(async () => {
      throw new Error("must not be called");
    });
    const request = testRequest(CREATE(2), "{}");
    expect(stage.process(request)).toBe(request);
  });
});

describe("volumeCreator", () => {
  function recordingDaemon(answer: { status: number; body: string } | Error) {
    const calls: Array<{ method: string; path: string; json: unknown }> = [];
    const daemon: DaemonClient = {
      async call(method, path, json) {
        calls.push({ method, path, json });
        if (answer instanceof Error) throw answer;
        return answer;
      },
    };
    return { calls, create: volumeCreator(daemon) };
  }

  it("sends POST /volumes/create, unversioned, with the name, the driver when one is set, and the labels", async () => {
    const { calls, create } = recordingDaemon({ status: 201, body: "{}" });
    await create({ name: "cache", driver: "" }, LABELS);
    await create({ name: "nfs", driver: "local" }, LABELS);
    expect(calls).toEqual([
      { method: "POST", path: "/volumes/create", json: { Name: "cache", Labels: { "Created-Via": "dockerd-ci-proxy" } } },
      { method: "POST", path: "/volumes/create", json: { Name: "nfs", Driver: "local", Labels: { "Created-Via": "dockerd-ci-proxy" } } },
    ]);
  });

  it("passes the daemon's refusal on with its status and message", async () => {
    const { create } = recordingDaemon({ status: 404, body: '{"message":"create x: plugin \\"nosuch\\" not found"}' });
    await expect(create({ name: "x", driver: "nosuch" }, LABELS)).rejects.toMatchObject({
      code: "DCP_VOLUME_NOT_CREATED",
      status: 404,
      message: 'create x: plugin "nosuch" not found',
    });
  });

  it("answers 502 when the daemon cannot be reached", async () => {
    const { create } = recordingDaemon(new Error("connect ENOENT /nowhere"));
    await expect(create({ name: "x", driver: "" }, LABELS)).rejects.toMatchObject({ code: "DCP_DAEMON_UNREACHABLE", status: 502 });
  });
});
