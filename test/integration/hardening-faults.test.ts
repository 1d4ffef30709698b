// Faults around the proxy: a daemon socket missing at start, a daemon going
// away mid-stream or mid-response, a client vanishing mid-upload. The proxy
// talks to the real dind through a relay socket the test controls.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSYBOX_IMAGE, type Dind, dockerApi, startDind } from "./support/dind.js";
import { DaemonRelay } from "./support/hardening/relay.js";
import { type ProxyProcess, startProxyProcess } from "./support/proxy-process.js";
import { parseHead, RawConnection } from "./support/raw-http.js";
import { tar } from "./support/labels/tar.js";

let dind: Dind;
let proxy: ProxyProcess;
let relay: DaemonRelay;
const relayPath = join(mkdtempSync(join(tmpdir(), "dcp-relay-")), "d.sock");

beforeAll(async () => {
  dind = await startDind();
  relay = new DaemonRelay(relayPath, dind.socketPath);
  // Started while nothing listens on its daemon socket yet.
  proxy = await startProxyProcess({ dockerSocket: relayPath });
});

afterAll(async () => {
  await relay?.stop();
  await proxy?.stop("SIGKILL");
  await dind?.stop();
});

async function ping(): Promise<{ status: number; body: string; contentType: string | undefined }> {
  const connection = await RawConnection.open(proxy.socketPath);
  try {
    connection.write("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
    const response = await connection.readResponse({ timeoutMs: 5_000 });
    return { status: response.status, body: response.body.toString(), contentType: response.headers["content-type"] };
  } finally {
    connection.close();
  }
}

function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]);
}

describe("faults on the daemon side and the client side", () => {
  it("answers 502 naming the socket while the daemon is missing, and resumes on its own once it appears", async () => {
    const missing = await ping();
    expect(missing.status).toBe(502);
    expect(missing.contentType).toBe("application/json");
    expect((JSON.parse(missing.body) as { message: string }).message).toContain(relayPath);

    await relay.start();
    const back = await ping();
    expect(back).toMatchObject({ status: 200, body: "OK" });
    expect(proxy.child.exitCode).toBeNull();
  });

  it("ends a client's /events stream when the daemon goes away mid-stream, and serves again once it is back", async () => {
    const events = await RawConnection.open(proxy.socketPath);
    const relayConnections = relay.connections.length;
    events.write("GET /events HTTP/1.1\r\nHost: d\r\n\r\n");
    await events.waitFor((received) => parseHead(received) !== undefined, 5_000);
    expect(parseHead(events.received)!.status).toBe(200);
    expect(relay.connections.length).toBe(relayConnections + 1);

    await relay.stop();
    // The stream ends: the proxy closes the client connection instead of leaving it hanging.
    await events.waitForEnd(5_000);
    events.close();

    const down = await ping();
    expect(down.status).toBe(502);
    await relay.start();
    expect(await ping()).toMatchObject({ status: 200, body: "OK" });
  });

  it("answers 502 JSON when the daemon goes away while a request waits for its answer", async () => {
    const created = await dockerApi(dind.socketPath, "POST", "/containers/create", { Image: BUSYBOX_IMAGE, Cmd: ["sleep", "600"] });
    const id = (JSON.parse(created.body) as { Id: string }).Id;
    expect((await dockerApi(dind.socketPath, "POST", `/containers/${id}/start`)).status).toBe(204);
    const connection = await RawConnection.open(proxy.socketPath);
    // sleep as PID 1 ignores SIGTERM: the daemon answers only after t=30 s.
    connection.write(`POST /containers/${id}/stop?t=30 HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(connection.received.length).toBe(0);
    await relay.stop();
    const response = await connection.readResponse({ timeoutMs: 5_000 });
    expect(response.status).toBe(502);
    expect(response.headers["content-type"]).toBe("application/json");
    expect(typeof (JSON.parse(response.body.toString()) as { message?: unknown }).message).toBe("string");
    await connection.waitForEnd(5_000);
    connection.close();
    await relay.start();
    expect(await ping()).toMatchObject({ status: 200, body: "OK" });
    await dockerApi(dind.socketPath, "DELETE", `/containers/${id}?force=1`);
  });

  it("destroys the daemon side when a client aborts mid-upload, and does not grow", async () => {
    const created = await dockerApi(dind.socketPath, "POST", "/containers/create", { Image: BUSYBOX_IMAGE, Cmd: ["true"] });
    const id = (JSON.parse(created.body) as { Id: string }).Id;
    // A valid tar declaring a 64 MiB file, of which only the first 4 MiB are sent.
    const archive = tar([{ name: "big.bin", content: Buffer.alloc(64 * 1024 * 1024, 0x61) }]);
    const sent = archive.subarray(0, 4 * 1024 * 1024);
    const pid = proxy.child.pid!;

    const abortOnce = async () => {
      const before = relay.connections.length;
      const connection = await RawConnection.open(proxy.socketPath);
      connection.write(
        `PUT /containers/${id}/archive?path=/tmp HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: ${archive.length}\r\n\r\n`,
      );
      await new Promise<void>((resolve) => connection.socket.write(sent, () => resolve()));
      // Wait until the daemon side has seen a good part of it, then vanish.
      const deadline = Date.now() + 10_000;
      while ((relay.connections[before]?.bytesIn ?? 0) < 1024 * 1024) {
        if (Date.now() > deadline) throw new Error("the upload never reached the daemon side");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      connection.socket.destroy();
      const upstream = relay.connections[before]!;
      await Promise.race([
        upstream.downstreamClosed,
        new Promise((_, reject) => setTimeout(() => reject(new Error("the proxy kept its daemon connection open")), 5_000)),
      ]);
      expect(upstream.bytesIn).toBeLessThan(archive.length);
    };

    for (let i = 0; i < 5; i++) await abortOnce();
    const baseline = rssKiB(pid);
    for (let i = 0; i < 25; i++) await abortOnce();
    const after = rssKiB(pid);
    // 25 leaked uploads would hold 100 MiB; allow for allocator noise only.
    expect(after - baseline).toBeLessThan(40 * 1024);
    // (The daemon itself extracts a tar as it streams, so a truncated big.bin
    // may exist, exactly as with a direct connection: not checked here.)
    expect(await ping()).toMatchObject({ status: 200, body: "OK" });
  });

  it("closes both sides when a client half-closes in the middle of an upload body", async () => {
    const created = await dockerApi(dind.socketPath, "POST", "/containers/create", { Image: BUSYBOX_IMAGE, Cmd: ["true"] });
    const id = (JSON.parse(created.body) as { Id: string }).Id;
    const before = relay.connections.length;
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write(
      `PUT /containers/${id}/archive?path=/tmp HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: 1048576\r\n\r\n`,
    );
    connection.write(Buffer.alloc(4096, 0x61));
    const deadline = Date.now() + 5_000;
    while ((relay.connections[before]?.bytesIn ?? 0) < 4096 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // The client says it has nothing more to send, 1 MiB short of its Content-Length.
    connection.socket.end();
    await connection.waitForEnd(5_000);
    connection.close();
    const upstream = relay.connections[before];
    expect(upstream).toBeDefined();
    await Promise.race([
      upstream!.downstreamClosed,
      new Promise((_, reject) => setTimeout(() => reject(new Error("the proxy kept its daemon connection open")), 5_000)),
    ]);
  });

  it("closes the client connection when the daemon closes in the middle of a response", async () => {
    relay.setOptions({ cutAfterResponseHead: true });
    try {
      const connection = await RawConnection.open(proxy.socketPath);
      connection.write("GET /containers/json?all=1 HTTP/1.1\r\nHost: d\r\n\r\n");
      await connection.waitForEnd(5_000);
      const head = parseHead(connection.received);
      expect(head?.status).toBe(200);
      const declared = Number(head!.headers["content-length"]);
      expect(declared).toBeGreaterThan(0);
      // The head came through, the body never did: the client must see a cut, not a hang.
      expect(connection.received.length - head!.headLength).toBeLessThan(declared);
      connection.close();
    } finally {
      relay.setOptions({});
    }
    expect(await ping()).toMatchObject({ status: 200, body: "OK" });
  });
});
