// The connection's end of life while the daemon may still be carrying out a
// request it was sent. A stand-in daemon (fault injection: the test decides
// when it answers a container create) shows what the proxy sends it and when.
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { type ConnectionHandle, handleConnection } from "./connection.js";
import { daemonClient } from "./daemon-client.js";
import { defaultStages } from "./pipeline/default-stages.js";
import type { Stage } from "./pipeline/stage.js";
import type { Exchange } from "./sinks/response-relay.js";

interface StandInDaemon {
  readonly path: string;
  /** Every request line received, in order. */
  readonly received: string[];
  /** Answers the oldest request it holds back. */
  answerHeld(): void;
  close(): Promise<void>;
}

const HOLD_BACK = /^(POST \/containers\/create|POST \/volumes\/prune|POST \/containers\/\w+\/wait)/;

/**
 * Answers volume creates and deletes at once; container creates, volume
 * prunes and waits when told to (answerHeld); `GET /_ping?close` with
 * `Connection: close`, and then closes the connection, as Go does.
 */
async function standInDaemon(path: string): Promise<StandInDaemon> {
  const received: string[] = [];
  const held: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    // Records each request as soon as it has arrived whole (as a daemon that
    // reads ahead would see it), and answers them in order.
    sockets.add(socket);
    let buffer = Buffer.alloc(0);
    const queue: string[] = [];
    let answering = false;
    let ended = false;
    const answerNext = () => {
      const line = queue.shift();
      if (line === undefined) {
        answering = false;
        return;
      }
      answering = true;
      const answer = (status: string, body: string, close = false) => {
        const connection = close ? "Connection: close\r\n" : "";
        socket.write(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\n${connection}Content-Length: ${body.length}\r\n\r\n${body}`);
        if (!close) return answerNext();
        // As Go does after `Connection: close`: half-closes, reads no further request, closes a moment later.
        ended = true;
        socket.end();
        setTimeout(() => socket.destroy(), 100);
      };
      if (line.startsWith("POST /volumes/create")) answer("201 Created", "{}");
      else if (line.startsWith("DELETE /volumes/")) answer("204 No Content", "");
      else if (line.startsWith("GET /_ping?close")) answer("200 OK", "OK", true);
      else if (HOLD_BACK.test(line)) held.push(() => answer("200 OK", '{"Id":"c1","Warnings":[]}'));
      else answer("404 Not Found", '{"message":"not here"}');
    };
    socket.on("data", (chunk: Buffer) => {
      if (ended) return;
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const headEnd = buffer.indexOf("\r\n\r\n");
        if (headEnd < 0) break;
        const head = buffer.subarray(0, headEnd).toString("latin1");
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffer.length < headEnd + 4 + length) break;
        buffer = buffer.subarray(headEnd + 4 + length);
        const line = head.split("\r\n")[0]!;
        received.push(line);
        queue.push(line);
      }
      if (!answering) answerNext();
    });
    socket.on("error", () => {});
  });
  await listen(server, path);
  return {
    path,
    received,
    answerHeld: () => held.shift()?.(),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve) => server.listen(path, resolve));
}

async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function send(path: string, request: string): Socket {
  const socket = connect({ path });
  socket.on("error", () => {});
  socket.write(request);
  return socket;
}

/** A stand-in daemon and a proxy in front of it, with the default stages. */
async function startProxyAndDaemon(cleanups: Array<() => Promise<void> | void>, extraStages: readonly Stage[] = []) {
  const dir = mkdtempSync(join(tmpdir(), "dcp-connection-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const daemon = await standInDaemon(join(dir, "daemon.sock"));
  cleanups.push(() => daemon.close());
  const stages = defaultStages({ labels: new Map([["Created-Via", "test"]]), maxBodyBytes: 1 << 20, daemon: daemonClient(daemon.path) }, extraStages);
  const proxy = { path: join(dir, "proxy.sock"), handles: [] as ConnectionHandle[], exchanges: [] as Exchange[], ended: 0 };
  let nextId = 0;
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const log = pino({ level: "silent" });
    handleConnection(socket, { id: ++nextId, dockerSocket: daemon.path, stages, maxHeaderBytes: 64 * 1024, log }, (handle) => {
      proxy.handles.push(handle);
      return () => {};
    }).subscribe({ next: (exchange) => proxy.exchanges.push(exchange), complete: () => proxy.ended++ });
  });
  await listen(server, proxy.path);
  // Not waiting for its connections: the test clients are gone, the stand-in daemon closes next.
  cleanups.push(() => void server.close());
  return { daemon, proxy };
}

describe("a client connection that closes while the daemon carries out a request whose volume names are held", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const proxyAndDaemon = () => startProxyAndDaemon(cleanups);

  const create = (binds: string[]) => {
    const body = JSON.stringify({ Image: "busybox", HostConfig: { Binds: binds } });
    return `POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  };

  it("keeps the names held, reading on, until the daemon has answered; then lets go and ends the connection", async () => {
    const { daemon, proxy } = await proxyAndDaemon();
    const client = send(proxy.path, create(["cache:/c"]));
    cleanups.push(() => void client.destroy());
    await until("the create at the daemon", () => daemon.received.some((line) => line.startsWith("POST /containers/create")));
    // The proxy closes the client connection (as at shutdown, or when a write to it fails).
    proxy.handles[0]!.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    // A delete of the held name, on another connection: it waits for the create's answer.
    const deleter = send(proxy.path, "DELETE /volumes/cache HTTP/1.1\r\nHost: d\r\n\r\n");
    cleanups.push(() => void deleter.destroy());
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(daemon.received.filter((line) => line.startsWith("DELETE"))).toEqual([]);
    expect(proxy.ended).toBe(0);

    daemon.answerHeld();
    await until("the delete at the daemon", () => daemon.received.some((line) => line.startsWith("DELETE /volumes/cache")));
    await until("the first connection's end", () => proxy.ended === 1);
    // The create's exchange was seen to its end (and logged as the daemon answered it).
    expect(proxy.exchanges.find((exchange) => exchange.request.connectionId === 1)?.status).toBe(200);
  });

  it("sends a create with named volumes alone: its volumes are made after every earlier answer, and nothing follows it before its own", async () => {
    const { daemon, proxy } = await proxyAndDaemon();
    const client = send(proxy.path, create([]) + create(["cache:/c"]) + "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
    cleanups.push(() => void client.destroy());
    await until("the first create at the daemon", () => daemon.received.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(daemon.received, "the volume waits for the first create's answer").toEqual(["POST /containers/create HTTP/1.1"]);
    daemon.answerHeld();
    await until("the second create at the daemon", () => daemon.received.length === 3);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(daemon.received.slice(1), "the ping waits for the second create's answer").toEqual(["POST /volumes/create HTTP/1.1", "POST /containers/create HTTP/1.1"]);
    daemon.answerHeld();
    await until("the ping at the daemon", () => daemon.received.length === 4);
    expect(daemon.received[3]).toBe("GET /_ping HTTP/1.1");
  });

  const PRUNE = "POST /volumes/prune HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n";
  const lines = (daemon: StandInDaemon, start: string) => daemon.received.filter((line) => line.startsWith(start));

  it("a prune at the daemon holds up a create's volumes on another connection until it is answered; two prunes end separately", async () => {
    const { daemon, proxy } = await proxyAndDaemon();
    const first = send(proxy.path, PRUNE);
    const second = send(proxy.path, PRUNE);
    cleanups.push(() => void first.destroy(), () => void second.destroy());
    await until("both prunes at the daemon", () => lines(daemon, "POST /volumes/prune").length === 2);
    const creator = send(proxy.path, create(["cache:/c"]));
    cleanups.push(() => void creator.destroy());
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lines(daemon, "POST /volumes/create")).toEqual([]);
    // One prune answered (dockerd answers a second prune at once: "a prune operation is already running"): the other still runs.
    daemon.answerHeld();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lines(daemon, "POST /volumes/create"), "the other prune may still remove the volume").toEqual([]);
    daemon.answerHeld();
    await until("the create's volume at the daemon", () => lines(daemon, "POST /volumes/create").length === 1);
  });

  it("a delete or prune claims only at its turn: queued behind a slow request on its connection, it holds up no one", async () => {
    const { daemon, proxy } = await proxyAndDaemon();
    const slow = send(proxy.path, "POST /containers/sleeper/wait HTTP/1.1\r\nHost: d\r\n\r\n" + PRUNE);
    cleanups.push(() => void slow.destroy());
    await until("the wait at the daemon", () => lines(daemon, "POST /containers/sleeper/wait").length === 1);
    const creator = send(proxy.path, create(["cache:/c"]));
    cleanups.push(() => void creator.destroy());
    await until("the create's volume at the daemon", () => lines(daemon, "POST /volumes/create").length === 1);
    expect(lines(daemon, "POST /volumes/prune"), "the prune waits for the wait's answer").toEqual([]);
  });

  it("a daemon that closes the connection (Connection: close) ends the holds of requests that can no longer reach it", async () => {
    const { daemon, proxy } = await proxyAndDaemon();
    // The client keeps its side open after the pipelined create.
    const client = send(proxy.path, "GET /_ping?close HTTP/1.1\r\nHost: d\r\n\r\n" + create(["cache:/c"]));
    cleanups.push(() => void client.destroy());
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(lines(daemon, "POST /containers/create"), "the create cannot follow the close").toEqual([]);
    const deleter = send(proxy.path, "DELETE /volumes/cache HTTP/1.1\r\nHost: d\r\n\r\n");
    cleanups.push(() => void deleter.destroy());
    await until("the delete at the daemon", () => lines(daemon, "DELETE /volumes/cache").length === 1, 2_000);
  });

  it("a volume delete that may be a hijack (Upgrade header) still lets the next request go once it is answered", async () => {
    const { daemon, proxy } = await proxyAndDaemon();
    const client = connect({ path: proxy.path });
    client.on("error", () => {});
    let received = "";
    client.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    client.write("DELETE /volumes/cache HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nGET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
    cleanups.push(() => void client.destroy());
    await until("both answers", () => (received.match(/HTTP\/1\.1 \d{3}/g) ?? []).length === 2, 3_000);
    expect(received.match(/HTTP\/1\.1 \d{3}/g)).toEqual(["HTTP/1.1 204", "HTTP/1.1 404"]);
    expect(daemon.received).toEqual(["DELETE /volumes/cache HTTP/1.1", "GET /_ping HTTP/1.1"]);
  });

  it("a prune whose form body is not complete yet claims nothing: the daemon reads that body before it prunes", async () => {
    const { daemon, proxy } = await proxyAndDaemon();
    const pruner = send(proxy.path, "POST /volumes/prune HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfilte\r\n");
    cleanups.push(() => void pruner.destroy());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const creator = send(proxy.path, create(["cache:/c"]));
    cleanups.push(() => void creator.destroy());
    await until("the create's volume at the daemon", () => lines(daemon, "POST /volumes/create").length === 1, 3_000);
    expect(lines(daemon, "POST /volumes/prune")).toEqual([]);
    // The rest of the body, and the create answered: the prune goes, with the body it read.
    await until("the create at the daemon", () => lines(daemon, "POST /containers/create").length === 1, 3_000);
    daemon.answerHeld();
    pruner.write("2\r\nrs\r\n0\r\n\r\n");
    await until("the prune at the daemon", () => lines(daemon, "POST /volumes/prune").length === 1, 3_000);
  });

  it("a connection closed by a refusal (an oversized head) ends once its client has read the answer and gone", async () => {
    const { proxy } = await proxyAndDaemon();
    const client = connect({ path: proxy.path });
    client.on("error", () => {});
    let received = "";
    client.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    client.write(`GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: ${"x".repeat(1024 * 1024)}\r\n\r\n`);
    cleanups.push(() => void client.destroy());
    await until("the 431", () => received.startsWith("HTTP/1.1 431"), 3_000);
    client.end();
    await until("the proxy's end of the connection", () => proxy.ended === 1, 3_000);
  });
});

describe("a body the reader ends with an error while a stage awaits something", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  // A user stage that awaits before the request goes on (as one asking a service would).
  const awaiting: Stage = { name: "awaiting", process: (request) => new Promise((resolve) => setTimeout(() => resolve(request), 20)) };

  it.each([
    ["a streamed upload, behind an awaiting user stage", "PUT /containers/c1/archive?path=/ HTTP/1.1", [awaiting]],
    ["a create, whose body buffer-body reads once the exchanges before it are over", "POST /containers/create HTTP/1.1", []],
  ] as const)("%s: the client gets the 400, the daemon nothing, and the proxy lives on", async (_name, requestLine, stages) => {
    const { daemon, proxy } = await startProxyAndDaemon(cleanups, stages);
    // A malformed chunk in the same packet as the head: the reader ends the body
    // with an error before the stages are done with the request.
    const client = send(proxy.path, `${requestLine}\r\nHost: d\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n`);
    cleanups.push(() => void client.destroy());
    let received = "";
    client.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    await until("the refusal", () => received.includes("\r\n\r\n{"));
    expect(received).toMatch(/^HTTP\/1\.1 400 /);
    expect(received).toContain("invalid chunk size");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(daemon.received).toEqual([]);
    // Still serving.
    const pinger = send(proxy.path, "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
    cleanups.push(() => void pinger.destroy());
    let answer = "";
    pinger.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
    await until("the ping's answer", () => answer.includes("not here"));
  });
});

describe("a rewritten body once sent", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("is let go by the request: a client that never reads its answer keeps the request, not the body", async () => {
    const { proxy } = await startProxyAndDaemon(cleanups);
    const body = JSON.stringify({ Name: "n1" });
    const client = send(proxy.path, `POST /networks/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    cleanups.push(() => void client.destroy());
    await until("the answer", () => proxy.exchanges.length === 1);
    const request = proxy.exchanges[0]!.request;
    expect(request.injection.labels).toBeDefined(); // it was rewritten
    expect(request.bufferedBody).toBeUndefined();
    expect(request.rewrite.body).toBeUndefined();
  });
});
