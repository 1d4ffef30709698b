// Request smuggling through a real proxy process to a real dockerd: every
// known way of making two parsers disagree about where a request ends is
// refused with a Docker-style error, the connection is closed, and the
// container-create hidden behind it never reaches the daemon. Then the
// legitimate neighbours of those patterns (pipelining, HTTP/1.0,
// Expect: 100-continue, chunked rewritten bodies) keep working and labelled.
import { describe, expect, it } from "vitest";
import { useDindAndProxy } from "./support/dind-with-proxy.js";
import { BUSYBOX_IMAGE, type Dind, dockerApi } from "./support/dind.js";
import type { ProxyProcess } from "./support/proxy-process.js";
import { RawConnection } from "./support/raw-http.js";
import { containerCount, containerLabels, createRequest, LABEL_NAME, LABEL_VALUE } from "./support/hardening/smuggle.js";

let dind: Dind;
let proxy: ProxyProcess;

useDindAndProxy((started) => ({ dind, proxy } = started), { stopSignal: "SIGKILL" });

let smuggleSeq = 0;

interface Attack {
  /** The bytes sent; `smuggled` is a complete container-create request. */
  build(smuggled: string): string;
  status: number;
}

const JSON_HEAD = "Host: d\r\nContent-Type: application/json\r\n";
const len = (s: string) => Buffer.byteLength(s, "latin1");
const chunk = (s: string) => `${len(s).toString(16)}\r\n${s}\r\n`;

const ATTACKS: Record<string, Attack> = {
  "CL.TE (Content-Length and Transfer-Encoding: chunked)": {
    build: (s) => {
      const body = `0\r\n\r\n${s}`;
      return `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}Content-Length: ${len(body)}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;
    },
    status: 400,
  },
  "TE.CL (Transfer-Encoding: chunked before a short Content-Length)": {
    build: (s) => `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${chunk(s)}0\r\n\r\n`,
    status: 400,
  },
  "TE.TE: Transfer-Encoding: xchunked": {
    build: (s) => `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}Transfer-Encoding: xchunked\r\n\r\n${chunk(s)}0\r\n\r\n`,
    status: 501,
  },
  "TE.TE: Transfer-Encoding: chunked, identity": {
    build: (s) => `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${s}`,
    status: 501,
  },
  "TE.TE: Transfer-Encoding:<TAB>chunked with a Content-Length": {
    build: (s) => {
      const body = `0\r\n\r\n${s}`;
      return `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}Content-Length: ${len(body)}\r\nTransfer-Encoding:\tchunked\r\n\r\n${body}`;
    },
    status: 400,
  },
  "TE.TE: two Transfer-Encoding headers (chunked, then identity)": {
    build: (s) => `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n${s}`,
    status: 501,
  },
  "TE.TE: two Transfer-Encoding: chunked headers": {
    build: (s) => `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${s}`,
    status: 501,
  },
  "Transfer-Encoding: chunked on HTTP/1.0 (Go ignores it there: the chunks would be the next request)": {
    build: (s) => `POST /containers/json HTTP/1.0\r\n${JSON_HEAD}Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(s)}0\r\n\r\n`,
    status: 400,
  },
  "a chunk size of 17 hex digits, leading zeros (Go refuses more than 16)": {
    build: (s) => `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}Transfer-Encoding: chunked\r\n\r\n${len(s).toString(16).padStart(17, "0")}\r\n${s}\r\n0\r\n\r\n`,
    status: 400,
  },
  "duplicate identical Content-Length": {
    build: (s) => `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}Content-Length: 0\r\nContent-Length: 0\r\n\r\n${s}`,
    status: 400,
  },
  "conflicting Content-Length": {
    build: (s) => `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}Content-Length: 0\r\nContent-Length: ${len(s)}\r\n\r\n${s}`,
    status: 400,
  },
  "comma-listed Content-Length": {
    build: (s) => `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}Content-Length: 0, ${len(s)}\r\n\r\n${s}`,
    status: 400,
  },
  "Content-Length: +5": {
    build: (s) => `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}Content-Length: +5\r\n\r\nhello${s}`,
    status: 400,
  },
  "chunk size 0x5": {
    build: (s) => `POST /containers/create HTTP/1.1\r\n${JSON_HEAD}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n${s}`,
    status: 400,
  },
  "chunk size -1": {
    build: (s) => `POST /containers/create HTTP/1.1\r\n${JSON_HEAD}Transfer-Encoding: chunked\r\n\r\n-1\r\n${s}\r\n0\r\n\r\n`,
    status: 400,
  },
  "huge chunk size (2^68)": {
    build: (s) => `POST /containers/create HTTP/1.1\r\n${JSON_HEAD}Transfer-Encoding: chunked\r\n\r\n100000000000000000\r\n${s}\r\n0\r\n\r\n`,
    status: 400,
  },
  "invalid chunk size inside a streamed (pass-through) upload": {
    build: (s) => `POST /images/load?quiet=1 HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0x5\r\nworld\r\n0\r\n\r\n${s}`,
    status: 400,
  },
  "chunk size with whitespace": {
    build: (s) => `POST /containers/create HTTP/1.1\r\n${JSON_HEAD}Transfer-Encoding: chunked\r\n\r\n2 \r\n{}\r\n0\r\n\r\n${s}`,
    status: 400,
  },
  "chunk size with a bare LF": {
    build: (s) => `POST /containers/create HTTP/1.1\r\n${JSON_HEAD}Transfer-Encoding: chunked\r\n\r\n2\n{}\r\n0\r\n\r\n${s}`,
    status: 400,
  },
  "obs-fold continuation of Transfer-Encoding": {
    build: (s) => {
      const body = `0\r\n\r\n${s}`;
      return `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}X-Note: a\r\n Transfer-Encoding: chunked\r\nContent-Length: ${len(body)}\r\n\r\n${body}`;
    },
    status: 400,
  },
  "bare LF line endings": {
    build: (s) => `POST /containers/json HTTP/1.1\nHost: d\nContent-Length: ${len(s)}\n\n${s}`,
    status: 400,
  },
  "bare LF inside an otherwise CRLF head": {
    build: (s) => `POST /containers/json HTTP/1.1\r\nHost: d\nTransfer-Encoding: chunked\r\nContent-Length: ${len(`0\r\n\r\n${s}`)}\r\n\r\n0\r\n\r\n${s}`,
    status: 400,
  },
  "header name with a space before the colon": {
    build: (s) => `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}Transfer-Encoding : chunked\r\nContent-Length: ${len(`0\r\n\r\n${s}`)}\r\n\r\n0\r\n\r\n${s}`,
    status: 400,
  },
  "NUL in a header value": {
    build: (s) => `POST /containers/json HTTP/1.1\r\n${JSON_HEAD}X-Note: a\0b\r\nContent-Length: 0\r\n\r\n${s}`,
    status: 400,
  },
  "absolute-form request target": {
    build: (s) => `POST http://d/containers/create HTTP/1.1\r\n${JSON_HEAD}Content-Length: 0\r\n\r\n${s}`,
    status: 400,
  },
  "oversized headers (> 256 KiB, no end of head)": {
    build: (s) => `POST /containers/json HTTP/1.1\r\nHost: d\r\nX-Big: ${"a".repeat(300 * 1024)}\r\n${s}`,
    status: 431,
  },
  "oversized headers (> 256 KiB, complete head)": {
    build: (s) => `POST /containers/json HTTP/1.1\r\nHost: d\r\nX-Big: ${"a".repeat(257 * 1024)}\r\nContent-Length: 0\r\n\r\n${s}`,
    status: 431,
  },
};

describe("known request-smuggling patterns are refused before the daemon sees them", () => {
  it.each(Object.entries(ATTACKS))("%s", async (_name, attack) => {
    const name = `smuggled-${process.pid}-${++smuggleSeq}`;
    const before = await containerCount(dind.socketPath);
    const connection = await RawConnection.open(proxy.socketPath);
    try {
      connection.write(attack.build(createRequest(BUSYBOX_IMAGE, name)));
      const response = await connection.readResponse();
      expect(response.status).toBe(attack.status);
      expect(response.headers["content-type"]).toBe("application/json");
      // The refusal says the connection ends, so a client does not reuse it.
      expect(response.headers["connection"]).toBe("close");
      const body = JSON.parse(response.body.toString()) as { message?: unknown };
      expect(typeof body.message).toBe("string");
      // The connection is closed, and nothing else was answered on it.
      await connection.waitForEnd(5_000);
      expect(connection.received.length).toBe(0);
    } finally {
      connection.close();
    }
    // Give a (wrongly) forwarded create time to land before looking.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await containerCount(dind.socketPath)).toBe(before);
    expect((await dockerApi(dind.socketPath, "GET", `/containers/${name}/json`)).status).toBe(404);
  });
});

describe("a smuggling attempt pipelined behind a good request", () => {
  it("answers the good request first, then refuses, closes, and creates nothing", async () => {
    const name = `smuggled-${process.pid}-behind`;
    const before = await containerCount(dind.socketPath);
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write("GET /containers/json?all=1 HTTP/1.1\r\nHost: d\r\n\r\n" + ATTACKS["CL.TE (Content-Length and Transfer-Encoding: chunked)"]!.build(createRequest(BUSYBOX_IMAGE, name)));
    const first = await connection.readResponse();
    expect(first.status).toBe(200);
    expect(Array.isArray(JSON.parse(first.body.toString()))).toBe(true);
    const refusal = await connection.readResponse();
    expect(refusal.status).toBe(400);
    expect(refusal.headers["content-type"]).toBe("application/json");
    await connection.waitForEnd(5_000);
    expect(connection.received.length).toBe(0);
    connection.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await containerCount(dind.socketPath)).toBe(before);
    expect((await dockerApi(dind.socketPath, "GET", `/containers/${name}/json`)).status).toBe(404);
  });
});

describe("legitimate framing next to those patterns still works", () => {
  it("answers pipelined requests in order, and labels the create that comes second", async () => {
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write(`GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n${createRequest(BUSYBOX_IMAGE)}GET /v1.41/_ping HTTP/1.1\r\nHost: d\r\n\r\n`);
    const ping = await connection.readResponse();
    const created = await connection.readResponse();
    const ping2 = await connection.readResponse();
    connection.close();
    expect(ping.status).toBe(200);
    expect(ping.body.toString()).toBe("OK");
    expect(created.status).toBe(201);
    expect(ping2.body.toString()).toBe("OK");
    const id = (JSON.parse(created.body.toString()) as { Id: string }).Id;
    expect(await containerLabels(dind.socketPath, id)).toMatchObject({ [LABEL_NAME]: LABEL_VALUE });
  });

  it("answers a client that half-closes right after its request (a create, then a ping)", async () => {
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write(`${createRequest(BUSYBOX_IMAGE)}GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n`);
    connection.socket.end();
    const created = await connection.readResponse();
    const pong = await connection.readResponse();
    await connection.waitForEnd(5_000);
    connection.close();
    expect(created.status).toBe(201);
    expect(pong.body.toString()).toBe("OK");
    const id = (JSON.parse(created.body.toString()) as { Id: string }).Id;
    expect(await containerLabels(dind.socketPath, id)).toMatchObject({ [LABEL_NAME]: LABEL_VALUE });
  });

  it("serves HTTP/1.0 requests, and labels an HTTP/1.0 create", async () => {
    const ping = await RawConnection.open(proxy.socketPath);
    ping.write("GET /_ping HTTP/1.0\r\n\r\n");
    const pong = await ping.readResponse();
    expect(pong.status).toBe(200);
    expect(pong.body.toString()).toBe("OK");
    ping.close();

    const body = JSON.stringify({ Image: BUSYBOX_IMAGE, Cmd: ["true"] });
    const create = await RawConnection.open(proxy.socketPath);
    create.write(`POST /containers/create HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ${len(body)}\r\n\r\n${body}`);
    const created = await create.readResponse();
    expect(created.status).toBe(201);
    // HTTP/1.0 without keep-alive: the connection ends after the answer.
    await create.waitForEnd(5_000);
    create.close();
    const id = (JSON.parse(created.body.toString()) as { Id: string }).Id;
    expect(await containerLabels(dind.socketPath, id)).toMatchObject({ [LABEL_NAME]: LABEL_VALUE });
  });

  it("answers Expect: 100-continue on a create itself, then creates it labelled", async () => {
    const body = JSON.stringify({ Image: BUSYBOX_IMAGE, Cmd: ["true"], Labels: { mine: "kept" } });
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write(
      `POST /v1.41/containers/create HTTP/1.1\r\n${JSON_HEAD}Expect: 100-continue\r\nContent-Length: ${len(body)}\r\n\r\n`,
    );
    const interim = await connection.readResponse({ timeoutMs: 5_000 });
    expect(interim.status).toBe(100);
    connection.write(body);
    const created = await connection.readResponse();
    connection.close();
    expect(created.status).toBe(201);
    const id = (JSON.parse(created.body.toString()) as { Id: string }).Id;
    expect(await containerLabels(dind.socketPath, id)).toMatchObject({ [LABEL_NAME]: LABEL_VALUE, mine: "kept" });
  });

  it("rewrites a create whose body is chunked", async () => {
    const body = JSON.stringify({ Image: BUSYBOX_IMAGE, Cmd: ["true"], Labels: { [LABEL_NAME]: "client-value" } });
    const pieces = [body.slice(0, 7), body.slice(7, 20), body.slice(20)];
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write(`POST /containers/create HTTP/1.1\r\n${JSON_HEAD}Transfer-Encoding: chunked\r\n\r\n`);
    for (const piece of pieces) connection.write(chunk(piece));
    connection.write("0\r\n\r\n");
    const created = await connection.readResponse();
    expect(created.status).toBe(201);
    // The connection stays usable after the rewritten chunked request.
    connection.write("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
    expect((await connection.readResponse()).body.toString()).toBe("OK");
    connection.close();
    const id = (JSON.parse(created.body.toString()) as { Id: string }).Id;
    expect(await containerLabels(dind.socketPath, id)).toMatchObject({ [LABEL_NAME]: LABEL_VALUE });
  });
});
