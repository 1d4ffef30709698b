// The proxy as a process: its own errors, its listen socket, its logs and
// its shutdown, against a real dockerd.
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSYBOX_IMAGE, type Dind, dockerApi, startDind } from "./support/dind.js";
import { startProxyProcess, type ProxyProcess } from "./support/proxy-process.js";
import { RawConnection } from "./support/raw-http.js";
import { waitFor } from "./support/wait-for.js";

let dind: Dind;
const started: ProxyProcess[] = [];

beforeAll(async () => {
  dind = await startDind();
});

afterAll(async () => {
  for (const proxy of started) await proxy.stop("SIGKILL");
  await dind?.stop();
});

async function proxyFor(dockerSocket: string, args: string[] = [], listenSocket?: string): Promise<ProxyProcess> {
  const proxy = await startProxyProcess({ dockerSocket, args, ...(listenSocket ? { listenSocket } : {}) });
  started.push(proxy);
  return proxy;
}

async function containerCount(): Promise<number> {
  const list = await dockerApi(dind.socketPath, "GET", "/containers/json?all=1");
  return (JSON.parse(list.body) as unknown[]).length;
}

describe("the proxy's own answers", () => {
  it("answers 502 naming the socket when the daemon is unreachable, as Docker-style JSON", async () => {
    const missing = join(mkdtempSync(join(tmpdir(), "dcp-")), "no-daemon.sock");
    const proxy = await proxyFor(missing);
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
    const response = await connection.readResponse();
    expect(response.status).toBe(502);
    expect(response.headers["content-type"]).toBe("application/json");
    expect((JSON.parse(response.body.toString()) as { message: string }).message).toContain(missing);
    connection.close();
  });

  it("refuses a CL.TE smuggling attempt with 400, closes, and forwards nothing", async () => {
    const proxy = await proxyFor(dind.socketPath);
    const before = await containerCount();
    const smuggled = `{"Image":"${BUSYBOX_IMAGE}"}`;
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write(
      "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
        `POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    );
    const response = await connection.readResponse();
    expect(response.status).toBe(400);
    expect(response.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(response.body.toString())).toHaveProperty("message");
    await connection.waitForEnd();
    expect(await containerCount()).toBe(before);
  });

  it("never answers a refusal with 404 (clients would pull and retry)", async () => {
    const proxy = await proxyFor(dind.socketPath);
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write("POST /containers%zz/create HTTP/1.1\r\nHost: d\r\n\r\n");
    const response = await connection.readResponse();
    expect(response.status).toBe(400);
    connection.close();
  });
});

describe("the listen socket", () => {
  it("replaces a stale socket file left by a killed process", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "dcp-")), "stale.sock");
    const killed = await proxyFor(dind.socketPath, [], path);
    await killed.stop("SIGKILL");
    // SIGKILL leaves the socket file behind, with nobody listening on it.
    expect(statSync(path).isSocket()).toBe(true);
    const second = await proxyFor(dind.socketPath, [], path);
    const connection = await RawConnection.open(path);
    connection.write("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
    expect((await connection.readResponse()).body.toString()).toBe("OK");
    connection.close();
    await second.stop();
  });

  it("refuses to start on a socket another process is listening on", async () => {
    const running = await proxyFor(dind.socketPath);
    await expect(proxyFor(dind.socketPath, [], running.socketPath)).rejects.toThrow(/in use by another process/);
    const connection = await RawConnection.open(running.socketPath);
    connection.write("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
    expect((await connection.readResponse()).body.toString()).toBe("OK");
    connection.close();
  });

  it("refuses to replace a path that is not a socket", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "dcp-")), "file.sock");
    writeFileSync(path, "precious");
    await expect(proxyFor(dind.socketPath, [], path)).rejects.toThrow(/not a socket/);
    expect(existsSync(path)).toBe(true);
  });

  it("creates the socket with mode 660 by default, settable with --listen-mode", async () => {
    const byDefault = await proxyFor(dind.socketPath);
    expect(statSync(byDefault.socketPath).mode & 0o777).toBe(0o660);
    expect(statSync(byDefault.socketPath).gid).toBe(statSync(dind.socketPath).gid);
    const open = await proxyFor(dind.socketPath, ["--listen-mode", "600"]);
    expect(statSync(open.socketPath).mode & 0o777).toBe(0o600);
  });
});

describe("logs", () => {
  it("writes one JSON line per request and never logs registry credentials", async () => {
    const proxy = await proxyFor(dind.socketPath, ["--debug"]);
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write("GET /_ping HTTP/1.1\r\nHost: d\r\nX-Registry-Auth: c2VjcmV0LXRva2Vu-AUTH\r\nx-registry-config: c2VjcmV0-CONFIG\r\n\r\n");
    await connection.readResponse();
    connection.close();
    await proxy.stop();
    const logs = proxy.logs();
    expect(logs).not.toContain("c2VjcmV0LXRva2Vu-AUTH");
    expect(logs).not.toContain("c2VjcmV0-CONFIG");
    expect(logs).toContain("[redacted]");
    const lines = logs.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = lines.filter((line) => line.msg === "request");
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ method: "GET", route: "/_ping", status: 200, hijacked: false });
    expect(requests[0]).toHaveProperty("durationMs");
    expect(requests[0]).toHaveProperty("bytesOut");
  });
});

/** Resident memory of a process, from /proc. */
function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? Number.NaN) * 1024;
}

/** Sends `count` GETs of `path` pipelined on one connection, in batches, and resolves with the statuses. */
async function pipelinedGets(socketPath: string, path: string, count: number, batch = 200): Promise<number[]> {
  const socket = connect(socketPath);
  await once(socket, "connect");
  const statuses: number[] = [];
  let received = "";
  let wanted = 0;
  let reached: (() => void) | undefined;
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => {
    received += chunk;
    // Each response is a status line, a few headers and a short JSON body:
    // one is complete when the next status line (or the closing "}\n") is in.
    let at: number;
    while ((at = received.indexOf("HTTP/1.1 ", 1)) !== -1 || received.endsWith("}\n")) {
      statuses.push(Number(received.slice(9, 12)));
      received = at === -1 ? "" : received.slice(at);
    }
    if (statuses.length >= wanted) reached?.();
  });
  const request = `GET ${path} HTTP/1.1\r\nHost: d\r\n\r\n`;
  for (let sent = 0; sent < count; sent += batch) {
    const n = Math.min(batch, count - sent);
    wanted = sent + n;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${statuses.length} of ${wanted} responses after 30 s`)), 30_000);
      reached = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    socket.write(request.repeat(n));
    await done;
  }
  socket.end();
  return statuses;
}

describe("logs when nothing reads stdout", () => {
  it("keeps relaying, keeps at most 16 MiB of lines, and says how many it dropped once stdout drains", async () => {
    const proxy = await proxyFor(dind.socketPath);
    const pid = proxy.child.pid!;
    // A long path makes long log lines (2 KB each).
    const path = `/dcp-log-stall/${"x".repeat(2000)}`;
    await pipelinedGets(proxy.socketPath, path, 200);
    const before = rssBytes(pid);
    proxy.child.stdout!.pause(); // the pipe fills, the proxy's log writes stall
    const statuses = await pipelinedGets(proxy.socketPath, path, 48_000);
    expect(statuses).toHaveLength(48_000);
    expect(new Set(statuses)).toEqual(new Set([404]));
    // 48,000 lines of 2 KB are about 100 MB. With the 16 MiB cap the proxy
    // grew by about 58 MB here (the lines kept plus garbage not yet
    // collected); without it, by about 200 MB.
    expect(rssBytes(pid) - before).toBeLessThan(100 * 1024 * 1024);
    proxy.child.stdout!.resume();
    await waitFor("the dropped-lines notice", async () => (proxy.logs().includes("log lines dropped") ? true : undefined));
    const notice = proxy
      .logs()
      .split("\n")
      .find((line) => line.includes("log lines dropped"))!;
    expect((JSON.parse(notice) as { dropped: number }).dropped).toBeGreaterThan(10_000);
  }, 180_000);
});

describe("shutdown on SIGTERM", () => {
  it("lets a request in flight finish, closes raw streams, removes the socket, exits 0", async () => {
    const proxy = await proxyFor(dind.socketPath);
    const created = await dockerApi(dind.socketPath, "POST", "/containers/create", { Image: BUSYBOX_IMAGE, Cmd: ["sleep", "2"] });
    const waitedId = (JSON.parse(created.body) as { Id: string }).Id;
    const catCreated = await dockerApi(dind.socketPath, "POST", "/containers/create", {
      Image: BUSYBOX_IMAGE,
      Cmd: ["cat"],
      OpenStdin: true,
      AttachStdin: true,
      AttachStdout: true,
    });
    const catId = (JSON.parse(catCreated.body) as { Id: string }).Id;
    await dockerApi(dind.socketPath, "POST", `/containers/${catId}/start`);
    await dockerApi(dind.socketPath, "POST", `/containers/${waitedId}/start`);

    const waiter = await RawConnection.open(proxy.socketPath);
    waiter.write(`POST /containers/${waitedId}/wait HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n`);
    await waiter.waitFor((received) => received.includes("\r\n\r\n"));
    const attached = await RawConnection.open(proxy.socketPath);
    attached.write(`POST /containers/${catId}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
    await attached.waitFor((received) => received.includes("101"));

    const exitCode = proxy.stop("SIGTERM");
    const waited = await waiter.readResponse({ timeoutMs: 10_000 });
    expect(waited.status).toBe(200);
    expect(JSON.parse(waited.body.toString())).toMatchObject({ StatusCode: 0 });
    await attached.waitForEnd(10_000);
    expect(await exitCode).toBe(0);
    expect(existsSync(proxy.socketPath)).toBe(false);
  });
});
