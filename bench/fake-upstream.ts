/**
 * A tiny, fast HTTP/1.1 server on a UNIX socket: the synthetic upstream that
 * shows a relay's own ceiling, with no daemon work in the way.
 *
 *   GET  /_ping            → 200 "OK" (readiness probe, keep-alive)
 *   GET  /blob?bytes=N     → 200, Content-Length N (default 1 GiB), a repeated 1 MiB buffer
 *   PUT  /sink             → reads a Content-Length body, discards it, then 200 with no body
 *
 * Run as its own process (`node --import tsx bench/fake-upstream.ts <socket>`)
 * so that it never shares an event loop with the client or the relay; it
 * prints "ready" once listening and exits on SIGTERM.
 */
import { unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { pathToFileURL } from "node:url";

const HEAD_END = Buffer.from("\r\n\r\n");
const DEFAULT_BLOB_BYTES = 1024 ** 3;
const BLOCK = Buffer.alloc(1024 * 1024);
for (let i = 0; i < BLOCK.length; i++) BLOCK[i] = (i * 31 + (i >> 10)) & 0xff;

const PING_RESPONSE = Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK", "latin1");
const SINK_RESPONSE = Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "latin1");
const NOT_FOUND = Buffer.from("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "latin1");
const BAD_REQUEST = Buffer.from("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "latin1");

export function startFakeUpstream(socketPath: string): Promise<Server> {
  const server = createServer((socket) => serve(socket));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ path: socketPath, backlog: 1024 }, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

function serve(socket: Socket): void {
  let pending: Buffer = Buffer.alloc(0);
  let sinkRemaining = 0;
  let streaming = false;
  socket.on("error", () => socket.destroy());

  const onData = (chunk: Buffer) => {
    if (sinkRemaining > 0) {
      const take = Math.min(sinkRemaining, chunk.length);
      sinkRemaining -= take;
      if (sinkRemaining === 0) socket.write(SINK_RESPONSE);
      if (take === chunk.length) return;
      chunk = chunk.subarray(take);
    }
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    processRequests();
  };

  const processRequests = () => {
    while (!streaming && sinkRemaining === 0) {
      const end = pending.indexOf(HEAD_END);
      if (end === -1) {
        if (pending.length > 64 * 1024) {
          socket.end(BAD_REQUEST);
          pending = Buffer.alloc(0);
        }
        return;
      }
      const head = pending.toString("latin1", 0, end);
      pending = pending.subarray(end + 4);
      const [method = "", target = ""] = head.slice(0, head.indexOf("\r\n") === -1 ? head.length : head.indexOf("\r\n")).split(" ");
      const length = Number(/\r\ncontent-length:[ \t]*(\d+)/i.exec(head)?.[1] ?? "0");
      if (/\r\ntransfer-encoding:/i.test(head)) {
        socket.end(BAD_REQUEST);
        return;
      }
      const url = new URL(target, "http://fake");
      if (method === "GET" && url.pathname === "/_ping") {
        socket.write(PING_RESPONSE);
      } else if (method === "GET" && url.pathname === "/blob") {
        const bytes = Number(url.searchParams.get("bytes") ?? DEFAULT_BLOB_BYTES);
        streaming = true;
        sendBlob(socket, Number.isSafeInteger(bytes) && bytes >= 0 ? bytes : DEFAULT_BLOB_BYTES, () => {
          streaming = false;
          processRequests();
        });
      } else if (method === "PUT" && url.pathname === "/sink") {
        if (length === 0) {
          socket.write(SINK_RESPONSE);
          continue;
        }
        const take = Math.min(length, pending.length);
        sinkRemaining = length - take;
        pending = pending.subarray(take);
        if (sinkRemaining === 0) socket.write(SINK_RESPONSE);
      } else {
        socket.write(NOT_FOUND);
      }
    }
  };

  socket.on("data", onData);
}

/** Writes the head and `bytes` of the block, honouring backpressure. */
function sendBlob(socket: Socket, bytes: number, done: () => void): void {
  socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${bytes}\r\n\r\n`);
  let remaining = bytes;
  const pump = () => {
    while (remaining > 0) {
      const size = Math.min(remaining, BLOCK.length);
      remaining -= size;
      const ok = socket.write(size === BLOCK.length ? BLOCK : BLOCK.subarray(0, size));
      if (!ok) {
        socket.once("drain", pump);
        return;
      }
    }
    done();
  };
  pump();
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const socketPath = process.argv[2];
  if (!socketPath) {
    process.stderr.write("usage: fake-upstream.ts <socket path>\n");
    process.exit(2);
  }
  try {
    unlinkSync(socketPath);
  } catch {
    // nothing there
  }
  const server = await startFakeUpstream(socketPath);
  process.stdout.write("ready\n");
  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
