// The relay's framing, fed byte-exact daemon output (fault-injection style:
// the real daemon cannot be made to split its writes on demand).
import { PassThrough } from "node:stream";
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { testRequest } from "../pipeline/test-requests.js";
import { ResponseRelay } from "./response-relay.js";

function relayWithClient() {
  const client = new PassThrough();
  const written: Buffer[] = [];
  client.on("data", (chunk: Buffer) => written.push(chunk));
  const verdicts: string[] = [];
  const relay = new ResponseRelay(
    client as unknown as Socket,
    { hijacked: () => verdicts.push("hijacked"), notHijacked: () => verdicts.push("not") },
    { pause() {}, resume() {} },
  );
  const output = () => Buffer.concat(written).toString("latin1");
  return { relay, output, verdicts };
}

describe("ResponseRelay", () => {
  it("keeps stream bytes that arrive in the same read as the 101", async () => {
    const { relay, output, verdicts } = relayWithClient();
    relay.expectUpstream(testRequest("POST /containers/x/attach?stream=1 HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"));
    const wire = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nfirst bytes";
    relay.onUpstreamData(Buffer.from(wire, "latin1"));
    relay.onUpstreamData(Buffer.from(" and more", "latin1"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(output()).toBe(`${wire} and more`);
    expect(verdicts).toEqual(["hijacked"]);
    expect(relay.hijacked).toBe(true);
  });

  it("relays a response split at every byte unchanged, and finds its end", async () => {
    const { relay, output } = relayWithClient();
    const exchanges: number[] = [];
    relay.exchanges$.subscribe((exchange) => exchanges.push(exchange.status));
    relay.expectUpstream(testRequest("GET /events HTTP/1.1\r\n\r\n"));
    relay.expectUpstream(testRequest("HEAD /_ping HTTP/1.1\r\n\r\n"));
    const wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
    for (const byte of Buffer.from(wire, "latin1")) relay.onUpstreamData(Buffer.from([byte]));
    await new Promise((resolve) => setImmediate(resolve));
    expect(output()).toBe(wire);
    expect(exchanges).toEqual([200, 200]);
    expect(relay.busy).toBe(false);
  });

  it("answers in order: a local refusal waits for the daemon's earlier response", async () => {
    const { relay, output } = relayWithClient();
    relay.expectUpstream(testRequest("GET /_ping HTTP/1.1\r\n\r\n"));
    relay.respondLocally(undefined, Buffer.from("LOCAL"), { close: false });
    expect(output()).toBe("");
    relay.onUpstreamData(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK", "latin1"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(output()).toBe("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOKLOCAL");
  });

  it("still delivers a complete response that arrived in the same read as garbage, then closes", async () => {
    const { relay, output } = relayWithClient();
    relay.expectUpstream(testRequest("GET /_ping HTTP/1.1\r\n\r\n"));
    relay.onUpstreamData(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOKnot http\r\n\r\n", "latin1"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(output()).toBe("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK");
  });

  it("reports an exchange only after its bytes were handed to the client, one report per response", () => {
    const client = new PassThrough();
    const events: string[] = [];
    const write = client.write.bind(client);
    client.write = ((chunk: Buffer) => {
      events.push(`write ${chunk.length}`);
      return write(chunk);
    }) as typeof client.write;
    const relay = new ResponseRelay(client as unknown as Socket, { hijacked() {}, notHijacked() {} }, { pause() {}, resume() {} });
    relay.exchanges$.subscribe((exchange) => events.push(`exchange ${exchange.status}`));
    relay.expectUpstream(testRequest("GET /_ping HTTP/1.1\r\n\r\n"));
    relay.expectUpstream(testRequest("GET /version HTTP/1.1\r\n\r\n"));
    const two = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOKHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}";
    relay.onUpstreamData(Buffer.from(two, "latin1"));
    expect(events).toEqual([`write ${two.length}`, "exchange 200", "exchange 404"]);
  });

  it("tells the reader an attach that got an ordinary answer was not hijacked", () => {
    const { relay, verdicts } = relayWithClient();
    relay.expectUpstream(testRequest("POST /containers/x/attach HTTP/1.1\r\n\r\n"));
    relay.onUpstreamData(Buffer.from("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}", "latin1"));
    expect(verdicts).toEqual(["not"]);
    expect(relay.hijacked).toBe(false);
  });

  it("reads the 404 body of a lowercase \"head\" request (Go treats only HEAD as HEAD), so the next response stays in step", async () => {
    const { relay, output } = relayWithClient();
    const exchanges: number[] = [];
    relay.exchanges$.subscribe((exchange) => exchanges.push(exchange.status));
    relay.expectUpstream(testRequest("head /x HTTP/1.1\r\n\r\n"));
    relay.expectUpstream(testRequest("GET /_ping HTTP/1.1\r\n\r\n"));
    const notFound = '{"message":"page not found"}\n';
    const wire = `HTTP/1.1 404 Not Found\r\nContent-Length: ${notFound.length}\r\n\r\n${notFound}` + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";
    relay.onUpstreamData(Buffer.from(wire, "latin1"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(output()).toBe(wire);
    expect(exchanges).toEqual([404, 200]);
  });

  it("takes an unframed 200 with a stream type for a hijack on attach and exec start only, never a framed one or another route", async () => {
    const cases: Array<[string, string, boolean]> = [
      ["POST /containers/x/attach?stream=1 HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n", true],
      ["POST /exec/x/start HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n\r\n", true],
      // Docker 23+: logs answer 200 with a stream type, chunked, and the daemon keeps reading HTTP.
      [
        "GET /containers/x/logs?stdout=1 HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        false,
      ],
      ["POST /containers/x/attach?stream=1 HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\nContent-Length: 0\r\n\r\n", false],
    ];
    for (const [request, response, hijacked] of cases) {
      const { relay } = relayWithClient();
      relay.expectUpstream(testRequest(request));
      relay.onUpstreamData(Buffer.from(response, "latin1"));
      expect(relay.hijacked, `${request.split("\r\n")[0]} → ${response.split("\r\n")[1]}`).toBe(hijacked);
    }
  });

  describe("a client that does not read", () => {
    /** A client whose every write reports a full buffer, and a daemon side that records pause/resume. */
    function stalledRelay() {
      const flow: string[] = [];
      const client = { write: () => false, on: () => client, end() {}, destroy() {} };
      const relay = new ResponseRelay(client as unknown as Socket, { hijacked() {}, notHijacked() {} }, {
        pause: () => flow.push("pause"),
        resume: () => flow.push("resume"),
      });
      const heads: string[] = [];
      relay.onAnswerHead = (request) => heads.push(request.head.target);
      return { relay, flow, heads };
    }
    const answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";

    it("stops reading the daemon for it, but reads up to the head of the answer to a request sent alone (it ends a claim), and reports that head", () => {
      const { relay, flow, heads } = stalledRelay();
      relay.expectUpstream(testRequest("GET /containers/x/json HTTP/1.1\r\n\r\n"));
      relay.onUpstreamData(Buffer.from(answer, "latin1"));
      expect(flow).toEqual(["pause"]);
      const prune = testRequest("POST /volumes/prune HTTP/1.1\r\n\r\n", undefined, 2);
      prune.answerBeforeNext = true;
      relay.expectUpstream(prune);
      expect(flow).toEqual(["pause", "resume"]);
      // Part of its head: nothing is written, so nothing pauses, until the head is whole.
      relay.onUpstreamData(Buffer.from("HTTP/1.1 200 OK\r\nContent-Le", "latin1"));
      expect(flow).toEqual(["pause", "resume"]);
      relay.onUpstreamData(Buffer.from("ngth: 4\r\n\r\n{}", "latin1"));
      expect(heads).toEqual(["/containers/x/json", "/volumes/prune"]);
      // After the head, the client's pace applies again (the answer is as long as the client's own request made it).
      expect(flow).toEqual(["pause", "resume", "pause"]);
    });

    it("reads on once the client is gone (no drain will come)", () => {
      const { relay, flow } = stalledRelay();
      relay.expectUpstream(testRequest("GET /containers/x/json HTTP/1.1\r\n\r\n"));
      relay.onUpstreamData(Buffer.from(answer, "latin1"));
      relay.discardFromNowOn();
      expect(flow).toEqual(["pause", "resume"]);
    });
  });
});
