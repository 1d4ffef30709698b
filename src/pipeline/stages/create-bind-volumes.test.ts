import { describe, expect, it, vi } from "vitest";
import type { DaemonClient } from "../../daemon-client.js";
import type { CgroupParentResolution } from "../../cgroup/cgroup-parent.js";
import type { BindVolume } from "../../rewrite/bind-volumes.js";
import { pipelineOf } from "../stage.js";
import { defaultStages } from "../default-stages.js";
import type { ProxyRequest } from "../proxy-request.js";
import { testBodyLimits, testRequest } from "../test-requests.js";
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

  it("holds the names while it creates them, until the exchange is over", async () => {
    const holds = new VolumeHolds();
    const usedDuringCreate: boolean[] = [];
    const stage = createBindVolumesStage(async (volume) => void usedDuringCreate.push(holds.isUsed(volume.name)), holds);
    const request = bindCreate("a", "b");
    await stage.process(request);
    expect(usedDuringCreate).toEqual([true, true]);
    expect(holds.isUsed("a") && holds.isUsed("b")).toBe(true);
    request.exchangeEnds.over(request);
    expect(holds.size).toEqual({ inForce: 0, waiting: 0 });
  });

  it("waits until every earlier exchange on the connection is over before it holds or creates anything, then asks for an answer before the next request", async () => {
    const holds = new VolumeHolds();
    const created: string[] = [];
    const stage = createBindVolumesStage(async (volume) => void created.push(volume.name), holds);
    const request = bindCreate("a");
    const second = { ...request, seq: 2 };
    const processing = stage.process(second);
    expect(await pending(processing)).toBe(true);
    expect({ used: holds.isUsed("a"), created }).toEqual({ used: false, created: [] });
    request.exchangeEnds.over(testRequest("GET /_ping HTTP/1.1\r\n\r\n", undefined, 1));
    expect(await processing).toMatchObject({ answerBeforeNext: true });
    expect({ used: holds.isUsed("a"), created }).toEqual({ used: true, created: ["a"] });
  });

  it("lets go of the names when the connection is gone while it creates them (the create will never be sent)", async () => {
    const holds = new VolumeHolds();
    let finishCreating!: () => void;
    const stage = createBindVolumesStage(() => new Promise<void>((resolve) => (finishCreating = resolve)), holds);
    const request = bindCreate("a");
    const processing = stage.process(request);
    expect(holds.isUsed("a")).toBe(true);
    request.exchangeEnds.connectionGone();
    expect(holds.isUsed("a")).toBe(false);
    finishCreating();
    await processing;
    expect(holds.size).toEqual({ inForce: 0, waiting: 0 });
  });
});

/** A container create whose Binds name `names`, as it leaves the stages before create-bind-volumes. */
function bindCreate(...names: string[]): ProxyRequest {
  const body = JSON.stringify({ HostConfig: { Binds: names.map((name, index) => `${name}:/v${index}`) } });
  const request = testRequest(CREATE(body.length), body);
  request.plan = { kind: "json-body", target: "container" };
  request.injection.labels = LABELS;
  request.bufferedBody = Buffer.from(body);
  return request;
}

/** Whether `result` is still pending after the microtasks queued now have run. */
async function pending(result: unknown): Promise<boolean> {
  let settled = false;
  void Promise.resolve(result).then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return !settled;
}

describe("guard-held-volumes with create-bind-volumes", () => {
  const deleteOf = (target: string) => testRequest(`DELETE ${target} HTTP/1.1\r\nHost: d\r\n\r\n`);
  const PRUNE_HEAD = "POST /volumes/prune HTTP/1.1\r\nContent-Length: 0\r\n\r\n";

  it("refuses at once a prune with a body that asks to Upgrade (its body would end only with the daemon's answer)", async () => {
    const guard = guardHeldVolumesStage(new VolumeHolds(), testBodyLimits(1 << 20));
    const prune = testRequest("POST /volumes/prune HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 2\r\n\r\n", "{}");
    expect(() => guard.process(prune)).toThrow(expect.objectContaining({ status: 400, code: "DCP_BAD_REQUEST" }));
    // Without a body it is sent as before (a delete or prune with Upgrade does not stall its connection).
    const bodiless = testRequest("POST /volumes/prune HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    await expect(Promise.resolve(guard.process(bodiless))).resolves.toBe(bodiless);
  });

  it("a delete of a name a create uses (any API version, percent-encoded), or a prune, waits until the create's exchange is over", async () => {
    const holds = new VolumeHolds();
    const guard = guardHeldVolumesStage(holds, testBodyLimits(1 << 20));
    const creating = bindCreate("cache");
    await createBindVolumesStage(async () => {}, holds).process(creating);
    const waiting = ["/volumes/cache", "/v1.41/volumes/cache?force=1", "/volumes/c%61che"].map((target) => guard.process(deleteOf(target)));
    waiting.push(guard.process(testRequest(PRUNE_HEAD)));
    for (const result of waiting) expect(await pending(result)).toBe(true);
    const other = deleteOf("/volumes/other");
    expect(guard.process(other), "another name goes at once").toBe(other);
    creating.exchangeEnds.over(creating);
    for (const result of waiting) expect(await pending(result)).toBe(false);
    const passed = await Promise.all(waiting);
    expect(passed.map((request) => request.refusal)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it("a create needing a name that a delete or prune under way may remove waits for its answer before it creates anything", async () => {
    const holds = new VolumeHolds();
    const guard = guardHeldVolumesStage(holds, testBodyLimits(1 << 20));
    const created: string[] = [];
    const stage = createBindVolumesStage(async (volume) => void created.push(volume.name), holds);
    const deleting = guard.process(deleteOf("/volumes/cache")) as ProxyRequest;
    const firstCreate = bindCreate("cache");
    const afterDelete = stage.process(firstCreate);
    expect(await pending(afterDelete)).toBe(true);
    expect(created).toEqual([]);
    deleting.exchangeEnds.over(deleting);
    await afterDelete;
    expect(created).toEqual(["cache"]);
    firstCreate.exchangeEnds.over(firstCreate);
    const pruning = guard.process(testRequest(PRUNE_HEAD)) as ProxyRequest;
    const afterPrune = stage.process(bindCreate("cache"));
    expect(await pending(afterPrune)).toBe(true);
    pruning.exchangeEnds.over(pruning);
    await afterPrune;
    expect(created).toEqual(["cache", "cache"]);
  });

  it("refuses with 409 a request that waited past the limit; the daemon never sees it", async () => {
    vi.useFakeTimers();
    try {
      const holds = new VolumeHolds(5_000);
      const stage = createBindVolumesStage(async () => {}, holds);
      await stage.process(bindCreate("cache"));
      const prune = guardHeldVolumesStage(holds, testBodyLimits(1 << 20)).process(testRequest(PRUNE_HEAD));
      const outcome = Promise.resolve(prune).catch((error: unknown) => error);
      await vi.advanceTimersByTimeAsync(5_000);
      expect(await outcome).toMatchObject({ code: "DCP_VOLUME_HELD", status: 409 });
    } finally {
      vi.useRealTimers();
    }
  });

  it("a delete or prune claims only once every earlier exchange on its connection is over, and asks for its answer before the next request", async () => {
    const holds = new VolumeHolds();
    const guard = guardHeldVolumesStage(holds, testBodyLimits(1 << 20));
    for (const head of ["DELETE /volumes/cache HTTP/1.1\r\n\r\n", PRUNE_HEAD]) {
      // Two requests of one connection: they share its ExchangeEnds.
      const first = testRequest("GET /_ping HTTP/1.1\r\n\r\n", undefined, 1);
      const later = testRequest(head, undefined, 2);
      const result = guard.process({ ...later, exchangeEnds: first.exchangeEnds });
      expect(await pending(result)).toBe(true);
      expect(holds.size).toEqual({ inForce: 0, waiting: 0 });
      first.exchangeEnds.over(first);
      expect(await result).toMatchObject({ answerBeforeNext: true });
      expect(holds.size).toEqual({ inForce: 1, waiting: 0 });
      const passed = await result;
      passed.exchangeEnds.over(passed);
      expect(holds.size).toEqual({ inForce: 0, waiting: 0 });
    }
  });

  it("compares methods exactly, as the daemon's router does: a lower-case delete claims nothing", async () => {
    const holds = new VolumeHolds();
    await createBindVolumesStage(async () => {}, holds).process(bindCreate("cache"));
    const request = testRequest("delete /volumes/cache HTTP/1.1\r\n\r\n");
    expect(guardHeldVolumesStage(holds, testBodyLimits(1 << 20)).process(request)).toBe(request);
    expect(holds.size).toEqual({ inForce: 1, waiting: 0 });
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
