import { describe, expect, it } from "vitest";
import type { DaemonAnswer, DaemonClient } from "../../daemon-client.js";
import type { ProxyRequest } from "../proxy-request.js";
import { testRequest } from "../test-requests.js";
import { checkRollbackStage } from "./check-rollback.js";

const LABELS = new Map([
  ["Created-Via", "dockerd-ci-proxy"],
  ["job", "7"],
]);
const OURS = { "Created-Via": "dockerd-ci-proxy", job: "7" };

function daemonAnswering(answer: DaemonAnswer | Error) {
  const asked: string[] = [];
  const daemon: DaemonClient = {
    async call(method, path) {
      asked.push(`${method} ${path}`);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return { asked, daemon };
}

const service = (previous: unknown, index = 12): DaemonAnswer => ({ status: 200, body: JSON.stringify({ ID: "s1", Version: { Index: index }, PreviousSpec: previous }) });
const update = (query: string): ProxyRequest =>
  testRequest(`POST /v1.41/services/web/update?${query} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n`, "{}");

async function outcome(request: ProxyRequest, answer: DaemonAnswer | Error) {
  const { asked, daemon } = daemonAnswering(answer);
  try {
    const result = await checkRollbackStage(LABELS, daemon).process(request);
    return { asked, passed: result === request };
  } catch (error) {
    return { asked, error: error as { code: string; status: number; message: string } };
  }
}

describe("check-rollback", () => {
  it("lets a rollback through when the previous spec carries every label, on the service and its containers", async () => {
    const previous = { Labels: { ...OURS, a: "1" }, TaskTemplate: { ContainerSpec: { Labels: OURS } } };
    expect(await outcome(update("version=12&rollback=previous"), service(previous))).toEqual({ asked: ["GET /services/web"], passed: true });
  });

  it.each([
    ["no labels at all", { TaskTemplate: { ContainerSpec: { Image: "x" } } }],
    ["the service labelled, its containers not", { Labels: OURS, TaskTemplate: { ContainerSpec: { Labels: null } } }],
    ["one label missing", { Labels: { "Created-Via": "dockerd-ci-proxy" }, TaskTemplate: { ContainerSpec: { Labels: OURS } } }],
    ["another value", { Labels: { ...OURS, job: "8" }, TaskTemplate: { ContainerSpec: { Labels: OURS } } }],
  ])("refuses a rollback to a previous spec with %s (403)", async (_name, previous) => {
    const result = await outcome(update("version=12&rollback=previous"), service(previous));
    expect(result.error).toMatchObject({ code: "DCP_CANNOT_LABEL", status: 403 });
  });

  it("reads rollback and version as the daemon does: first values, version as an unsigned number", async () => {
    const unlabelled = service({ Labels: null });
    expect((await outcome(update("version=0012&rollback=previous&rollback="), unlabelled)).error?.code).toBe("DCP_CANNOT_LABEL");
    expect((await outcome(update("version=12&r%6Fllback=previous"), unlabelled)).error?.code).toBe("DCP_CANNOT_LABEL");
    expect(await outcome(update("version=12&rollback=&rollback=previous"), unlabelled)).toEqual({ asked: [], passed: true });
  });

  it("lets through what the daemon refuses itself: no valid version, no previous spec", async () => {
    const unlabelled = { Labels: null };
    expect((await outcome(update("rollback=previous"), service(unlabelled))).passed).toBe(true);
    expect((await outcome(update("version=%2B12&rollback=previous"), service(unlabelled))).passed).toBe(true);
    expect((await outcome(update("version=18446744073709551616&rollback=previous"), service(unlabelled))).passed).toBe(true);
    expect((await outcome(update("version=12&rollback=previous"), service(null))).passed).toBe(true);
  });

  it("refuses (409) a rollback naming another version: queued, it could run once that version has come", async () => {
    const labelled = { Labels: OURS, TaskTemplate: { ContainerSpec: { Labels: OURS } } };
    for (const query of ["version=13&rollback=previous", "version=11&rollback=previous"]) {
      expect((await outcome(update(query), service(labelled))).error, query).toMatchObject({ code: "DCP_CANNOT_LABEL", status: 409 });
    }
  });

  it("passes the daemon's refusal of the lookup on, and answers 502 when it cannot be reached", async () => {
    const missing = await outcome(update("version=1&rollback=previous"), { status: 404, body: '{"message":"service web not found"}' });
    expect(missing.error).toMatchObject({ code: "DCP_DAEMON_REFUSED", status: 404, message: "service web not found" });
    const unreachable = await outcome(update("version=1&rollback=previous"), new Error("connect ENOENT"));
    expect(unreachable.error).toMatchObject({ code: "DCP_DAEMON_UNREACHABLE", status: 502 });
  });

  describe("an update that rolls back on failure (UpdateConfig.FailureAction rollback) restores the CURRENT spec", () => {
    const withBody = (body: string): ProxyRequest => {
      const request = update("version=12");
      request.bufferedBody = Buffer.from(body);
      return request;
    };
    const state = (spec: unknown): DaemonAnswer => ({ status: 200, body: JSON.stringify({ ID: "s1", Version: { Index: 12 }, Spec: spec, PreviousSpec: null }) });
    const labelledSpec = { Labels: OURS, TaskTemplate: { ContainerSpec: { Labels: OURS } } };

    it.each(['{"UpdateConfig":{"FailureAction":"rollback"}}', '{"updateconfig":{"failureactioN":"rollback"}}', '{"UpdateConfig":{"FailureAction":"\\u0072ollback"}}'])(
      "refuses %s when the current spec lacks the labels, and lets it through when it carries them",
      async (body) => {
        expect((await outcome(withBody(body), state({ Labels: null }))).error).toMatchObject({ code: "DCP_CANNOT_LABEL", status: 403 });
        expect(await outcome(withBody(body), state(labelledSpec))).toEqual({ asked: ["GET /services/web"], passed: true });
      },
    );

    it.each(['{"UpdateConfig":{"FailureAction":"pause"}}', '{"UpdateConfig":{"FailureAction":"Rollback"}}', '{"UpdateConfig":null}', "{}"])(
      "asks nothing for %s (swarm compares the action exactly)",
      async (body) => {
        expect(await outcome(withBody(body), new Error("must not be asked"))).toEqual({ asked: [], passed: true });
      },
    );
  });

  it("asks nothing for updates that are not rollbacks, or other calls", async () => {
    expect(await outcome(update("version=12"), new Error("must not be asked"))).toEqual({ asked: [], passed: true });
    const create = testRequest("POST /services/create?rollback=previous HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    expect(await outcome(create, new Error("must not be asked"))).toEqual({ asked: [], passed: true });
  });
});
