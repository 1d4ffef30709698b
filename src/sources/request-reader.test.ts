import type { Socket } from "node:net";
import { PassThrough } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { ProxyRequest } from "../pipeline/proxy-request.js";
import { RequestReader } from "./request-reader.js";

function readerOver(socket: PassThrough): RequestReader {
  return new RequestReader(socket as unknown as Socket, {
    connectionId: 1,
    log: pino({ level: "silent" }),
    maxHeaderBytes: 64 * 1024,
    sendContinue: () => {},
  });
}

/** Writes `parts` (one 'data' event each) into a reader and collects the requests it emits, released at once. */
async function read(parts: readonly string[]): Promise<ProxyRequest[]> {
  const socket = new PassThrough();
  const reader = readerOver(socket);
  const requests: ProxyRequest[] = [];
  const finished = new Promise<void>((resolve, reject) => {
    reader.requests$.subscribe({
      next: (request) => {
        requests.push(request);
        // A body stream is drained the way the sink would, so the reader goes on.
        request.body?.resume();
        reader.release(request);
      },
      error: reject,
      complete: resolve,
    });
  });
  for (const part of parts) {
    socket.write(Buffer.from(part, "latin1"));
    await new Promise((resolve) => setImmediate(resolve));
  }
  socket.end();
  await finished;
  return requests;
}

/** The first request parsed from `text`, not released and its body not read. */
function firstRequest(text: string): Promise<ProxyRequest> {
  const socket = new PassThrough();
  const first = new Promise<ProxyRequest>((resolve) => readerOver(socket).requests$.subscribe((request) => resolve(request)));
  socket.write(Buffer.from(text, "latin1"));
  return first;
}

function streamed(request: ProxyRequest): Promise<string> {
  const body = request.body;
  if (!body) return Promise.resolve("");
  const chunks: Buffer[] = [];
  body.on("data", (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    body.once("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
    body.once("error", reject);
  });
}

const CREATE = 'POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"Image":"bb"}\n';

describe("RequestReader: a body that came whole with its head", () => {
  it("is handed over at once, and the next pipelined request is still parsed where it starts", async () => {
    const [create, ping] = await read([`${CREATE}GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n`]);
    expect(create!.receivedBody?.toString("latin1")).toBe('{"Image":"bb"}\n');
    expect(ping!.head.target).toBe("/_ping");
    expect(ping!.body).toBeNull();
  });

  it("is still offered as a stream of the same bytes, for stages that read one", async () => {
    const request = await firstRequest(CREATE);
    expect(request.receivedBody).toBeDefined();
    expect(await streamed(request)).toBe('{"Image":"bb"}\n');
  });

  it("is left to the stream when it arrives after its head", async () => {
    const head = CREATE.slice(0, CREATE.indexOf("\r\n\r\n") + 4);
    const [create] = await read([head, CREATE.slice(head.length)]);
    expect(create!.receivedBody).toBeUndefined();
    expect(create!.body).not.toBeNull();
  });

  it.each([
    ["chunked", 'POST /networks/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'],
    ["Expect: 100-continue", "POST /networks/create HTTP/1.1\r\nHost: d\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}"],
    ["a request that may become a raw stream", "POST /exec/abc/start HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"],
  ])("is left to the stream for %s", async (_name, text) => {
    const request = await firstRequest(text);
    expect(request.receivedBody).toBeUndefined();
    expect(request.body).not.toBeNull();
  });
});
