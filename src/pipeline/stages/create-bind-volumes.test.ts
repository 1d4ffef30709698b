import { describe, expect, it, vi } from "vitest";
import type { DaemonClient } from "../../daemon-client.js";
import type { CgroupParentResolution } from "../../cgroup/cgroup-parent.js";
import type { BindVolume } from "../../rewrite/bind-volumes.js";
import { pipelineOf } from "../stage.js";
import { defaultStages } from "../default-stages.js";
import type { ProxyRequest } from "../proxy-request.js";
import { testRequest } from "../test-requests.js";
import { firstValueFrom, of } from "rxjs";
import { VolumeHolds } from "../volume-holds.js";
import { createBindVolumesStage, volumeCreator } from "./create-bind-volumes.js";
import { guardHeldVolumesStage } from "./guard-held-volumes.js";

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
    }, new VolumeHolds());
    const request = testRequest(CREATE(2), "{}");
    expect(stage.process(request)).toBe(request);
  });

  it("holds the names while it creates them, until the exchange is done", async () => {
    const holds = new VolumeHolds();
    const heldDuringCreate: boolean[] = [];
    const stage = createBindVolumesStage(async (volume) => void heldDuringCreate.push(holds.isHeld(volume.name)), holds);
    const body = '{"HostConfig":{"Binds":["a:/a","b:/b"]}}';
    const request = testRequest(CREATE(body.length), body);
    request.plan = { kind: "json-body", target: "container" };
    request.injection.labels = LABELS;
    request.bufferedBody = Buffer.from(body);
    await stage.process(request);
    expect(heldDuringCreate).toEqual([true, true]);
    expect(holds.isHeld("a") && holds.isHeld("b")).toBe(true);
    request.onExchangeDone?.();
    expect(holds.anyHeld).toBe(false);
  });
});

describe("VolumeHolds and guard-held-volumes", () => {
  it("keeps a hold for as long as it takes: no time limit (a create can wait at the daemon behind a slow request)", () => {
    vi.useFakeTimers();
    try {
      const holds = new VolumeHolds();
      const release = holds.hold(["slow"]);
      holds.removal("going");
      vi.advanceTimersByTime(24 * 60 * 60_000);
      expect(holds.isHeld("slow")).toBe(true);
      expect(holds.beingRemoved(["going"])).toBe("going");
      release();
      expect(holds.isHeld("slow")).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  const deleteOf = (target: string) => testRequest(`DELETE ${target} HTTP/1.1\r\nHost: d\r\n\r\n`);

  it("refuses deletes of held names (any API version, percent-encoded) and prunes with 409, until released", () => {
    const holds = new VolumeHolds();
    const guard = guardHeldVolumesStage(holds);
    const release = holds.hold(["cache", "cache"]);
    const second = holds.hold(["cache"]);
    for (const target of ["/volumes/cache", "/v1.41/volumes/cache?force=1", "/volumes/c%61che"]) {
      expect(() => guard.process(deleteOf(target)), target).toThrow(expect.objectContaining({ code: "DCP_VOLUME_HELD", status: 409 }));
    }
    expect(() => guard.process(testRequest("POST /volumes/prune HTTP/1.1\r\nContent-Length: 0\r\n\r\n"))).toThrow(
      expect.objectContaining({ code: "DCP_VOLUME_HELD" }),
    );
    const other = deleteOf("/volumes/other");
    expect(guard.process(other)).toBe(other);
    release();
    release(); // a second call changes nothing
    expect(holds.isHeld("cache")).toBe(true); // still held by the second create
    second();
    const free = deleteOf("/volumes/cache");
    expect(guard.process(free)).toBe(free);
  });

  it("notes deletes and prunes it lets through; a create needing such a name is refused (409) until they are answered", async () => {
    const holds = new VolumeHolds();
    const guard = guardHeldVolumesStage(holds);
    const stage = createBindVolumesStage(async () => {}, holds);
    const create = () => {
      const body = '{"HostConfig":{"Binds":["cache:/c"]}}';
      const request = testRequest(CREATE(body.length), body);
      request.plan = { kind: "json-body", target: "container" };
      request.injection.labels = LABELS;
      request.bufferedBody = Buffer.from(body);
      return request;
    };
    const deleting = guard.process(deleteOf("/volumes/cache")) as ProxyRequest;
    expect(() => stage.process(create())).toThrow(expect.objectContaining({ code: "DCP_VOLUME_HELD", status: 409 }));
    deleting.onExchangeDone?.();
    const pruning = guard.process(testRequest("POST /volumes/prune HTTP/1.1\r\nContent-Length: 0\r\n\r\n")) as ProxyRequest;
    expect(() => stage.process(create())).toThrow(expect.objectContaining({ code: "DCP_VOLUME_HELD" }));
    pruning.onExchangeDone?.();
    await expect(stage.process(create())).resolves.toBeDefined();
    // Methods as the daemon's router compares them: "delete" removes nothing there.
    expect((guard.process(testRequest("delete /volumes/other HTTP/1.1\r\n\r\n")) as ProxyRequest).onExchangeDone).toBeUndefined();
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
