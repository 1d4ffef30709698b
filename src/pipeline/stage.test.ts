import { from, lastValueFrom, toArray } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { DaemonRefusalError, ProxyBusyError, RewriteError } from "../errors.js";
import type { ProxyRequest } from "./proxy-request.js";
import { pipelineOf, type Stage, stageOperator } from "./stage.js";
import { testRequest } from "./test-requests.js";

const ping = (seq: number) => testRequest("GET /_ping HTTP/1.1\r\n\r\n", undefined, seq);

function marbles(run: (helpers: Parameters<Parameters<TestScheduler["run"]>[0]>[0]) => void): void {
  new TestScheduler((actual, expected) => expect(actual).toEqual(expected)).run(run);
}

describe("stageOperator", () => {
  it("passes each request through a synchronous stage at once, in order", () => {
    const seen: number[] = [];
    marbles(({ cold, expectObservable }) => {
      const values = { a: ping(1), b: ping(2) };
      const stage: Stage = { name: "t", process: (request) => (seen.push(request.seq), request) };
      expectObservable(cold("a-b|", values).pipe(stageOperator(stage))).toBe("a-b|", values);
    });
    expect(seen).toEqual([1, 2]);
  });

  it("turns a stage's error into a refusal of that request only", () => {
    marbles(({ cold, expectObservable }) => {
      const values = { a: ping(1), b: ping(2) };
      const stage: Stage = {
        name: "refuse-first",
        process(request) {
          if (request.seq === 1) throw new RewriteError("DCP_INVALID_JSON", "no");
          return request;
        },
      };
      expectObservable(cold("ab|", values).pipe(stageOperator(stage))).toBe("ab|", values);
    });
    const refused = ping(1);
    const stage: Stage = {
      name: "boom",
      process() {
        throw new RewriteError("DCP_INVALID_JSON", "bad body");
      },
    };
    return lastValueFrom(from([refused]).pipe(stageOperator(stage))).then((request) => {
      expect(request.refusal?.code).toBe("DCP_INVALID_JSON");
      expect(request.refusal?.status).toBe(400);
    });
  });

  it("keeps order when an asynchronous stage finishes out of order", async () => {
    const delays = [30, 1, 10];
    const stage: Stage = {
      name: "slow",
      process: (request) => new Promise<ProxyRequest>((resolve) => setTimeout(() => resolve(request), delays[request.seq - 1])),
    };
    const out = await lastValueFrom(from([ping(1), ping(2), ping(3)]).pipe(stageOperator(stage), toArray()));
    expect(out.map((request) => request.seq)).toEqual([1, 2, 3]);
  });

  it("skips later stages for a refused request, and an unknown error becomes a 500 without details", async () => {
    const calls: string[] = [];
    const stages: Stage[] = [
      { name: "first", process: () => Promise.reject(new Error("secret internals")) },
      { name: "second", process: (request) => (calls.push("second"), request) },
    ];
    const [request] = await lastValueFrom(from([ping(1)]).pipe(pipelineOf(stages), toArray()));
    expect(calls).toEqual([]);
    expect(request!.refusal?.status).toBe(500);
    expect(request!.refusal?.message).not.toContain("secret");
  });
});

describe("what a refusal logs", () => {
  it("logs a stage's own 5xx failure as an error, but not the daemon's 5xx passed on, nor the proxy being busy (the access log shows those)", async () => {
    const lines: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const failing = (error: Error): Stage => ({
      name: "failing",
      process() {
        throw error;
      },
    });
    const run = async (error: Error) => {
      const request = { ...testRequest("GET /_ping HTTP/1.1\r\n\r\n"), log };
      return lastValueFrom(from([request]).pipe(pipelineOf([failing(error)])));
    };
    const passedOn = await run(new DaemonRefusalError("DCP_DAEMON_REFUSED", 503, "This node is not a swarm manager."));
    expect(passedOn.refusal?.status).toBe(503);
    const busy = await run(new ProxyBusyError("no room for this body now"));
    expect(busy.refusal).toMatchObject({ status: 503, code: "DCP_PROXY_BUSY" });
    expect(lines).toEqual([]);
    const own = await run(new Error("bug"));
    expect(own.refusal?.status).toBe(500);
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(["stage failed"]);
  });
});
