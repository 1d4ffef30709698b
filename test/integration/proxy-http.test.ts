// HTTP semantics through the proxy, byte-exact, against a real dockerd:
// pipelining, keep-alive, HEAD, pass-through of daemon errors, streamed
// responses and uploads, and the proxy's own errors.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSYBOX_IMAGE, type Dind, dockerApi, startDind } from "./support/dind.js";
import { type ProxyProcess, startProxyProcess } from "./support/proxy-process.js";
import { RawConnection, stableHeaderLines } from "./support/raw-http.js";
import { writeTar } from "./support/tar-stream.js";

let dind: Dind;
let proxy: ProxyProcess;
let containerId: string;

beforeAll(async () => {
  dind = await startDind();
  proxy = await startProxyProcess({ dockerSocket: dind.socketPath });
  const created = await dockerApi(dind.socketPath, "POST", "/containers/create", {
    Image: BUSYBOX_IMAGE,
    Cmd: ["sleep", "600"],
  });
  containerId = (JSON.parse(created.body) as { Id: string }).Id;
  await dockerApi(dind.socketPath, "POST", `/containers/${containerId}/start`);
});

afterAll(async () => {
  await proxy?.stop();
  await dind?.stop();
});

function logLines(): Array<Record<string, unknown>> {
  return proxy
    .logs()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("HTTP through the proxy", () => {
  it("answers pipelined requests in order on one keep-alive connection, HEAD without a body", async () => {
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write(
      "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n" +
        "GET /version HTTP/1.1\r\nHost: d\r\n\r\n" +
        "HEAD /_ping HTTP/1.1\r\nHost: d\r\n\r\n" +
        "GET /containers/no-such-container/json HTTP/1.1\r\nHost: d\r\n\r\n" +
        "GET /v1.41/_ping HTTP/1.1\r\nHost: d\r\n\r\n",
    );
    const ping = await connection.readResponse();
    const version = await connection.readResponse();
    const head = await connection.readResponse({ head: true });
    const missing = await connection.readResponse();
    const versionedPing = await connection.readResponse();
    expect(ping.status).toBe(200);
    expect(ping.body.toString()).toBe("OK");
    expect(JSON.parse(version.body.toString())).toHaveProperty("ApiVersion");
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(missing.status).toBe(404);
    expect(missing.body.toString()).toContain("No such container");
    expect(versionedPing.body.toString()).toBe("OK");
    // Nothing more: HEAD's Content-Length did not make us wait for (or invent) a body.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(connection.received.length).toBe(0);
    connection.close();
    const mine = logLines().filter((line) => line.route === "/containers/no-such-container/json");
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ status: 404, method: "GET", hijacked: false });
  });

  it("passes daemon errors and headers through unchanged", async () => {
    const request = "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 24\r\n\r\n{\"Image\":\"no/such:img\"}\n";
    const viaProxy = await RawConnection.open(proxy.socketPath);
    const direct = await RawConnection.open(dind.socketPath);
    viaProxy.write(request);
    direct.write(request);
    const [a, b] = [await viaProxy.readResponse(), await direct.readResponse()];
    expect(a.status).toBe(404);
    expect(stableHeaderLines(a.headerLines)).toEqual(stableHeaderLines(b.headerLines));
    expect(a.body.toString()).toBe(b.body.toString());
    for (const name of ["api-version", "server", "ostype", "docker-experimental"]) expect(a.headers).toHaveProperty(name);
    viaProxy.close();
    direct.close();
  });

  it("passes /_ping's negotiation headers through (GET and HEAD)", async () => {
    for (const method of ["GET", "HEAD"]) {
      const viaProxy = await RawConnection.open(proxy.socketPath);
      const direct = await RawConnection.open(dind.socketPath);
      for (const connection of [viaProxy, direct]) connection.write(`${method} /_ping HTTP/1.1\r\nHost: d\r\n\r\n`);
      const [a, b] = [await viaProxy.readResponse({ head: method === "HEAD" }), await direct.readResponse({ head: method === "HEAD" })];
      expect(a.headers).toHaveProperty("api-version");
      expect(a.headers).toHaveProperty("ostype");
      expect(stableHeaderLines(a.headerLines)).toEqual(stableHeaderLines(b.headerLines));
      viaProxy.close();
      direct.close();
    }
  });

  it("flushes a streamed response at once (/events)", async () => {
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write("GET /events HTTP/1.1\r\nHost: d\r\n\r\n");
    await connection.waitFor((received) => received.includes("\r\n\r\n"));
    const started = Date.now();
    await dockerApi(dind.socketPath, "POST", "/volumes/create", { Name: "events-probe" });
    await connection.waitFor((received) => received.includes("events-probe"), 5_000);
    expect(Date.now() - started).toBeLessThan(3_000);
    connection.close();
  });

  it("answers HTTP/1.0 and closes the connection after it", async () => {
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write("GET /_ping HTTP/1.0\r\n\r\n");
    const ping = await connection.readResponse();
    expect(ping.body.toString()).toBe("OK");
    await connection.waitForEnd();
  });

  it("closes the connection after its own refusal when the client asked to (Connection: close, or HTTP/1.0), as the daemon does", async () => {
    // Invalid JSON: refused once its body has been read, so only the client's wish can close the connection.
    const refused = "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 2\r\n";
    for (const request of [`${refused}Connection: close\r\n\r\n{]`, `${refused.replace("HTTP/1.1", "HTTP/1.0")}\r\n{]`]) {
      const connection = await RawConnection.open(proxy.socketPath);
      connection.write(request);
      const answer = await connection.readResponse();
      expect(answer.status).toBe(400);
      expect(answer.headers["connection"]).toBe("close");
      await connection.waitForEnd();
    }
    // Without either, a refused request read to its end keeps the connection.
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write(`${refused}\r\n{]GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n`);
    expect((await connection.readResponse()).status).toBe(400);
    expect((await connection.readResponse()).body.toString()).toBe("OK");
    connection.close();
  });

  it("streams a 1 GiB upload, chunked and with Content-Length, with bounded memory", async () => {
    const size = 1024 * 1024 * 1024;
    for (const framing of ["chunked", "length"] as const) {
      const connection = await RawConnection.open(proxy.socketPath);
      const tarLength = 512 + size + 1024;
      connection.write(
        `PUT /containers/${containerId}/archive?path=/tmp HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\n` +
          (framing === "chunked" ? "Transfer-Encoding: chunked\r\n\r\n" : `Content-Length: ${tarLength}\r\n\r\n`),
      );
      await writeTar(connection, `big-${framing}`, size, framing === "chunked");
      const response = await connection.readResponse({ timeoutMs: 120_000 });
      expect(response.status).toBe(200);
      connection.close();
      const stat = await dockerApi(dind.socketPath, "HEAD", `/containers/${containerId}/archive?path=/tmp/big-${framing}`);
      const info = JSON.parse(Buffer.from(String(stat.headers["x-docker-container-path-stat"]), "base64").toString()) as { size: number };
      expect(info.size).toBe(size);
      await dockerApi(dind.socketPath, "POST", `/containers/${containerId}/exec`, { Cmd: ["rm", `/tmp/big-${framing}`] }).then((exec) =>
        dockerApi(dind.socketPath, "POST", `/exec/${(JSON.parse(exec.body) as { Id: string }).Id}/start`, { Detach: true }),
      );
    }
    const peakKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${proxy.child.pid}/status`, "utf8"))![1]);
    expect(peakKb).toBeLessThan(200 * 1024);
  }, 300_000);
});
