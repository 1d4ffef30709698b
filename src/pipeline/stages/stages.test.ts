import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { BodyBudget } from "../body-budget.js";
import type { ProxyRequest } from "../proxy-request.js";
import { testBodyLimits, testRequest } from "../test-requests.js";
import { bufferBodyStage } from "./buffer-body.js";
import { classifyStage } from "./classify.js";
import { injectLabelsStage } from "./inject-labels.js";
import { serializeStage } from "./serialize.js";

const LABELS = new Map([["Created-Via", "dockerd-ci-proxy"]]);

async function run(request: ProxyRequest): Promise<ProxyRequest> {
  let current = classifyStage.process(request) as ProxyRequest;
  current = await bufferBodyStage(testBodyLimits(1024 * 1024)).process(current);
  current = injectLabelsStage(LABELS).process(current) as ProxyRequest;
  return serializeStage.process(current) as ProxyRequest;
}

describe("classify", () => {
  it.each([
    ["POST /containers/create HTTP/1.1\r\n\r\n", { kind: "json-body", target: "container" }],
    ["POST /v1.41/services/x/update HTTP/1.1\r\n\r\n", { kind: "json-body", target: "service" }],
    ["POST /build?t=a HTTP/1.1\r\n\r\n", { kind: "query", target: "build" }],
    ["POST /images/create?fromSrc=- HTTP/1.1\r\n\r\n", { kind: "query", target: "import" }],
    ["POST /images/create?fromImage=busybox HTTP/1.1\r\n\r\n", { kind: "passthrough" }],
    ["POST /commit?container=x HTTP/1.1\r\n\r\n", { kind: "query", target: "commit" }],
    ["GET /containers/json HTTP/1.1\r\n\r\n", { kind: "passthrough" }],
  ])("plans %j", (head, plan) => {
    expect((classifyStage.process(testRequest(head)) as ProxyRequest).plan).toEqual(plan);
  });

  it.each([
    "POST /build HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\n",
    "POST /commit?container=x HTTP/1.1\r\nContent-Type: Application/X-WWW-Form-Urlencoded; charset=utf-8\r\nContent-Length: 3\r\n\r\n",
    "POST /images/create?fromSrc=- HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 3\r\n\r\n",
    "POST /images/create?fromImage=local/x HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\n",
    "POST /containers/create HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n",
    "POST /containers/create HTTP/1.1\r\nContent-Length: 2\r\n\r\n",
    "POST /containers/create HTTP/1.1\r\nContent-Type: application/json\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n",
  ])("refuses %j: the daemon could read parameters the proxy did not see", (head) => {
    expect(() => classifyStage.process(testRequest(head))).toThrow(/Content-Type/);
  });
});

describe("classify: container start", () => {
  const start = (framing: string) => testRequest(`POST /v1.23/containers/abc/start HTTP/1.1\r\nContent-Type: application/json\r\n${framing}\r\n`);

  it.each(["Content-Length: 8\r\n", "Content-Length: 60\r\n", "Transfer-Encoding: chunked\r\n"])(
    "refuses a start whose body the daemon would read as a host config (%j)",
    (framing) => {
      expect(() => classifyStage.process(start(framing))).toThrow(expect.objectContaining({ code: "DCP_HOST_CONFIG_ON_START", status: 400 }));
    },
  );

  it.each(["", "Content-Length: 0\r\n", "Content-Length: 2\r\n", "Content-Length: 7\r\n"])(
    "lets through a start whose body the daemon ignores (%j)",
    (framing) => {
      expect((classifyStage.process(start(framing)) as ProxyRequest).plan).toEqual({ kind: "passthrough" });
    },
  );
});

describe("classify: calls that create what cannot be labelled", () => {
  it.each([
    "POST /plugins/pull?remote=vieux/sshfs HTTP/1.1\r\n\r\n",
    "POST /v1.41/plugins/create?name=p HTTP/1.1\r\n\r\n",
    "POST /plugins/vieux/sshfs:latest/enable HTTP/1.1\r\n\r\n",
    "POST /plugins/p/upgrade?remote=x HTTP/1.1\r\n\r\n",
    "POST /swarm/init HTTP/1.1\r\n\r\n",
    "POST /v1.41/swarm/join HTTP/1.1\r\n\r\n",
  ])("refuses %j with 403", (head) => {
    expect(() => classifyStage.process(testRequest(head))).toThrow(expect.objectContaining({ code: "DCP_CANNOT_LABEL", status: 403 }));
  });

  it.each([
    "GET /plugins HTTP/1.1\r\n\r\n",
    "POST /plugins/p/disable HTTP/1.1\r\n\r\n",
    "POST /plugins/p/set HTTP/1.1\r\n\r\n",
    "POST /swarm/leave?force=1 HTTP/1.1\r\n\r\n",
    "POST /swarm/update?version=1 HTTP/1.1\r\n\r\n",
  ])("lets %j through", (head) => {
    expect((classifyStage.process(testRequest(head)) as ProxyRequest).plan).toEqual({ kind: "passthrough" });
  });
});

describe("classify: Content-Type read as Go reads it", () => {
  // Header text is latin1 here: "\u00c4\u00b0" is the UTF-8 encoding of U+0130 (İ), which Go lower-cases to i.
  it.each([
    "appl\u00c4\u00b0cation/x-www-form-urlencoded",
    "application/x-www-form-urlencoded\u00c2\u00a0",
    "application/x-www-form-urlencoded\u00c2\u0085",
    "APPL\u00c4\u00b0CATION/X-WWW-FORM-URLENCODED; charset=utf-8",
    "multipart/form-data\u00a0; boundary=x",
  ])("refuses %j on query-rewritten calls and on /images/create: the daemon may read a form", (type) => {
    for (const target of ["/build?t=x", "/images/create?fromImage=local/x&tag=1", "/commit?container=c"]) {
      const request = testRequest(`POST ${target} HTTP/1.1\r\nContent-Type: ${type}\r\nContent-Length: 3\r\n\r\n`, "a=b");
      expect(() => classifyStage.process(request), target).toThrow(expect.objectContaining({ code: "DCP_BAD_CONTENT_TYPE" }));
    }
  });

  it("still refuses a JSON call whose type only Go would read as JSON (the daemon would take it; the proxy asks for plain ASCII)", () => {
    const request = testRequest("POST /containers/create HTTP/1.1\r\nContent-Type: appl\u00c4\u00b0cation/json\r\nContent-Length: 2\r\n\r\n", "{}");
    expect(() => classifyStage.process(request)).toThrow(expect.objectContaining({ code: "DCP_BAD_CONTENT_TYPE" }));
  });
});

describe("the rewrite path", () => {
  it("labels a chunked container create and reframes it with Content-Length", async () => {
    const body = '{"Image":"busybox","Labels":{"a":"b"}}';
    const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const request = await run(
      testRequest("POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", chunked),
    );
    const sent = JSON.parse(request.rewrite.body!.toString()) as { Labels: Record<string, string> };
    expect(sent.Labels).toEqual({ a: "b", "Created-Via": "dockerd-ci-proxy" });
    const head = request.outgoingHead!.toString("latin1");
    expect(head).toContain(`Content-Length: ${request.rewrite.body!.length}\r\n`);
    expect(head).not.toMatch(/transfer-encoding/i);
  });

  it("gives a create without a body a labelled JSON body, declared as JSON", async () => {
    const request = await run(testRequest("POST /volumes/create HTTP/1.1\r\nHost: d\r\n\r\n"));
    expect(JSON.parse(request.rewrite.body!.toString())).toEqual({ Labels: { "Created-Via": "dockerd-ci-proxy" } });
    expect(request.outgoingHead!.toString("latin1")).toContain("Content-Type: application/json\r\n");
  });

  it("rewrites the build query and leaves the body stream alone", async () => {
    const request = await run(testRequest("POST /v1.41/build?t=x&labels=%7B%22a%22%3A%22b%22%7D HTTP/1.1\r\nContent-Type: application/x-tar\r\nContent-Length: 3\r\n\r\n", "tar"));
    const target = request.outgoingHead!.toString("latin1").split(" ")[1]!;
    const labels = new URLSearchParams(target.split("?")[1]).getAll("labels");
    expect(labels.map((value) => JSON.parse(value) as unknown)).toEqual([{ a: "b", "Created-Via": "dockerd-ci-proxy" }]);
    expect(request.bufferedBody).toBeUndefined();
    expect(request.body).not.toBeNull();
  });

  it("sends a plain request's head byte for byte", async () => {
    const request = await run(testRequest("GET /containers/json?all=1 HTTP/1.1\r\nHost: d\r\nX-Odd:  spaced \r\n\r\n"));
    expect(request.outgoingHead).toBeUndefined();
  });

  it("refuses a JSON body over the limit with 413 before reading it all", async () => {
    const request = classifyStage.process(
      testRequest("POST /networks/create HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n", "x".repeat(5000)),
    ) as ProxyRequest;
    await expect(bufferBodyStage(testBodyLimits(1024)).process(request)).rejects.toMatchObject({ status: 413, code: "DCP_BODY_TOO_LARGE" });
  });

  describe("with other bodies buffered (the proxy-wide budget)", () => {
    const createHead = (length: number) => `POST /networks/create HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    /** 1000 bytes per body and in all, so that two bodies of 600 do not fit together. */
    const limitsOf1000 = (receiveLimitMs?: number) => ({ maxBodyBytes: 1000, budget: new BodyBudget(1000), ...(receiveLimitMs ? { receiveLimitMs } : {}) });
    /** A create of 600 bytes, its body read whole: it holds 600 of the budget. */
    const buffered600 = async (limits: ReturnType<typeof limitsOf1000>) => {
      const { request, body } = pending(createHead(600));
      body.end(jsonOf(600));
      await bufferBodyStage(limits).process(request);
      expect(limits.budget.heldBytes).toBe(600);
      return request;
    };
    const jsonOf = (length: number) => `{"Name":"${"n".repeat(length - 11)}"}`;
    /** A classified request whose body the test writes. */
    const pending = (head: string) => {
      const body = new PassThrough();
      const request = classifyStage.process({ ...testRequest(head), body }) as ProxyRequest;
      return { request, body };
    };

    it("a body that does not fit waits unread until an exchange ahead is over, then goes on", async () => {
      const limits = limitsOf1000();
      const first = pending(createHead(600));
      const buffering = bufferBodyStage(limits).process(first.request);
      const second = pending(createHead(600));
      let secondDone = false;
      const secondBuffered = Promise.resolve(bufferBodyStage(limits).process(second.request)).then((request) => {
        secondDone = true;
        return request;
      });
      first.body.end(jsonOf(600));
      await buffering;
      second.body.end(jsonOf(600));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(secondDone).toBe(false);
      expect(second.body.readableLength).toBe(600); // not read: its bytes stay out of the proxy's memory
      expect(limits.budget.heldBytes).toBe(600);
      first.request.exchangeEnds.over(first.request);
      expect(JSON.parse((await secondBuffered).bufferedBody!.toString())).toEqual({ Name: "n".repeat(589) });
      second.request.exchangeEnds.over(second.request);
      expect(limits.budget.heldBytes).toBe(0);
    });

    it("a connection gone gives back what its bodies held", async () => {
      const limits = limitsOf1000();
      const request = await buffered600(limits);
      request.exchangeEnds.connectionGone();
      expect(limits.budget.heldBytes).toBe(0);
    });

    it("a body pipelined behind an exchange not over yet is read, and takes its share, only once that one is over", async () => {
      const limits = limitsOf1000();
      const earlier = testRequest("POST /containers/x/wait HTTP/1.1\r\n\r\n", undefined, 1);
      const body = new PassThrough();
      const pipelined = classifyStage.process({ ...testRequest(createHead(600), undefined, 2), body, exchangeEnds: earlier.exchangeEnds }) as ProxyRequest;
      const buffering = bufferBodyStage(limits).process(pipelined);
      body.end(jsonOf(600));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(limits.budget.heldBytes).toBe(0);
      expect(body.readableLength).toBe(600);
      earlier.exchangeEnds.over(earlier);
      expect((await buffering).bufferedBody!.length).toBe(600);
      expect(limits.budget.heldBytes).toBe(600);
    });

    it("a body that does not arrive in time is refused with 408, and gives its share back", async () => {
      const limits = limitsOf1000(50);
      const { request, body } = pending(createHead(600));
      const buffering = bufferBodyStage(limits).process(request);
      body.write(jsonOf(600).slice(0, 300));
      await expect(buffering).rejects.toMatchObject({ status: 408, code: "DCP_BODY_TIMEOUT" });
      expect(limits.budget.heldBytes).toBe(600);
      request.exchangeEnds.over(request); // the refusal ends its exchange
      expect(limits.budget.heldBytes).toBe(0);
    });

    it("gives its share back when the daemon's answer begins, however slowly the client reads the answer", async () => {
      const limits = limitsOf1000();
      const request = await buffered600(limits);
      request.exchangeEnds.answered(request);
      expect(limits.budget.heldBytes).toBe(0);
      expect(request.exchangeEnds.watches(request)).toBe(false); // a closed client's connection need not read on for it
    });

    it("stops reading a body, and holds nothing, once its connection is gone (the client, or the daemon's end)", async () => {
      const limits = limitsOf1000();
      const { request, body } = pending(createHead(600));
      const buffering = bufferBodyStage(limits).process(request);
      body.write(jsonOf(600).slice(0, 300));
      await new Promise((resolve) => setTimeout(resolve, 10));
      request.exchangeEnds.connectionGone();
      await expect(buffering).rejects.toMatchObject({ code: "DCP_CLIENT_GONE" });
      expect(limits.budget.heldBytes).toBe(0);
      expect(body.listenerCount("data")).toBe(0);
      // Gone before its share was granted: it reads nothing at all.
      const late = pending(createHead(600));
      late.request.exchangeEnds.connectionGone();
      late.body.end(jsonOf(600));
      await expect(bufferBodyStage(limits).process(late.request)).rejects.toMatchObject({ code: "DCP_CLIENT_GONE" });
      expect(late.body.readableLength).toBe(600);
      expect(limits.budget.heldBytes).toBe(0);
    });

    it("a chunked body that outgrows the room left is refused with 503", async () => {
      const limits = limitsOf1000();
      await buffered600(limits);
      const { request, body } = pending("POST /networks/create HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
      const buffering = bufferBodyStage(limits).process(request);
      body.write(`12c\r\n${"x".repeat(300)}\r\n`);
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(limits.budget.heldBytes).toBe(600 + 307);
      body.write(`c8\r\n${"x".repeat(200)}\r\n`);
      await expect(buffering).rejects.toMatchObject({ status: 503, code: "DCP_PROXY_BUSY" });
      request.exchangeEnds.over(request); // the refusal ends its exchange
      expect(limits.budget.heldBytes).toBe(600);
    });
  });

  it("answers Expect: 100-continue itself and does not forward the expectation", async () => {
    let continued = 0;
    const request = testRequest(
      "POST /networks/create HTTP/1.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
      "{}",
    );
    const withContinue = { ...request, sendContinue: () => void continued++ };
    const out = await run(withContinue);
    expect(continued).toBe(1);
    expect(out.outgoingHead!.toString("latin1")).not.toMatch(/expect/i);
  });
});
