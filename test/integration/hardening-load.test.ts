// Bounded load through one proxy process: many concurrent connections of
// mixed kinds with zero errors and every create labelled, then thousands of
// short connections without leaking file descriptors.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { useDindAndProxy } from "./support/dind-with-proxy.js";
import { BUSYBOX_IMAGE, type Dind, dockerApi } from "./support/dind.js";
import { createRequest, LABEL_NAME, LABEL_VALUE } from "./support/hardening/smuggle.js";
import type { ProxyProcess } from "./support/proxy-process.js";
import { parseHead, RawConnection } from "./support/raw-http.js";
import { writeTar } from "./support/tar-stream.js";

let dind: Dind;
let proxy: ProxyProcess;

// The compiled proxy, as shipped: these tests measure the process (memory,
// file descriptors), and tsx's loader would add its own ~33 MB to the RSS.
useDindAndProxy((started) => ({ dind, proxy } = started), { stopSignal: "SIGKILL", built: true });

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

async function pingOnce(): Promise<void> {
  const connection = await RawConnection.open(proxy.socketPath);
  try {
    connection.write("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
    const response = await connection.readResponse({ timeoutMs: 30_000 });
    if (response.status !== 200 || response.body.toString() !== "OK") throw new Error(`ping answered ${response.status}`);
  } finally {
    connection.close();
  }
}

async function createOnce(): Promise<string> {
  const connection = await RawConnection.open(proxy.socketPath);
  try {
    connection.write(createRequest(BUSYBOX_IMAGE));
    const response = await connection.readResponse({ timeoutMs: 60_000 });
    if (response.status !== 201) throw new Error(`create answered ${response.status}: ${response.body.toString()}`);
    return (JSON.parse(response.body.toString()) as { Id: string }).Id;
  } finally {
    connection.close();
  }
}

/** Opens an /events stream and returns it once its head has arrived. */
async function openEvents(): Promise<RawConnection> {
  const connection = await RawConnection.open(proxy.socketPath);
  connection.write('GET /events?filters={"type":["container"]} HTTP/1.1\r\nHost: d\r\n\r\n'.replace(/[{}"[\]]/g, encodeURIComponent));
  await connection.waitFor((received) => parseHead(received) !== undefined, 30_000);
  const status = parseHead(connection.received)!.status;
  if (status !== 200) {
    connection.close();
    throw new Error(`/events answered ${status}`);
  }
  return connection;
}

describe("load through one proxy", () => {
  it("keeps its memory under 150 MB during a 1 GiB upload with 1000 idle connections open", async () => {
    const idle = await Promise.all(Array.from({ length: 1000 }, () => RawConnection.open(proxy.socketPath)));
    try {
      const created = await dockerApi(dind.socketPath, "POST", "/containers/create", { Image: BUSYBOX_IMAGE, Cmd: ["sleep", "600"] });
      const id = (JSON.parse(created.body) as { Id: string }).Id;
      await dockerApi(dind.socketPath, "POST", `/containers/${id}/start`);
      const size = 1024 * 1024 * 1024;
      const upload = await RawConnection.open(proxy.socketPath);
      upload.write(
        `PUT /containers/${id}/archive?path=/tmp HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: ${512 + size + 1024}\r\n\r\n`,
      );
      await writeTar(upload, "big", size, false);
      expect((await upload.readResponse({ timeoutMs: 120_000 })).status).toBe(200);
      upload.close();
      await dockerApi(dind.socketPath, "DELETE", `/containers/${id}?force=1`);
      const peakKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${proxy.child.pid}/status`, "utf8"))![1]);
      expect(peakKb).toBeLessThan(150 * 1024);
      expect(idle.every((connection) => !connection.closed)).toBe(true);
    } finally {
      for (const connection of idle) connection.close();
    }
  }, 180_000);

  it("serves 1000 concurrent connections (pings, creates, event streams) without an error, every create labelled", async () => {
    const streams = await Promise.all(Array.from({ length: 100 }, () => openEvents()));
    try {
      const work: Array<Promise<string | undefined>> = [];
      for (let i = 0; i < 900; i++) {
        work.push(i % 9 === 0 ? createOnce() : pingOnce().then(() => undefined));
      }
      const results = await Promise.allSettled(work);
      const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => String(r.reason));
      expect(failures).toEqual([]);
      const ids = results.map((r) => (r.status === "fulfilled" ? r.value : undefined)).filter((id): id is string => id !== undefined);
      expect(ids).toHaveLength(100);

      // Every create was labelled (asked of the daemon directly).
      const list = await dockerApi(dind.socketPath, "GET", "/containers/json?all=1");
      const labels = new Map(
        (JSON.parse(list.body) as Array<{ Id: string; Labels: Record<string, string> | null }>).map((c) => [c.Id, c.Labels ?? {}]),
      );
      const unlabelled = ids.filter((id) => labels.get(id)?.[LABEL_NAME] !== LABEL_VALUE);
      expect(unlabelled).toEqual([]);

      // Each event stream is still alive and saw the creates.
      for (const stream of streams) {
        await stream.waitFor((received) => received.includes('"Action":"create"'), 15_000);
        expect(stream.closed).toBe(false);
      }
    } finally {
      for (const stream of streams) stream.close();
    }
  });

  it("does not leak file descriptors over 10,000 opened and closed connections", async () => {
    const pid = proxy.child.pid!;
    await pingOnce();
    const before = openFds(pid);
    const BATCH = 200;
    for (let batch = 0; batch < 50; batch++) {
      await Promise.all(
        Array.from({ length: BATCH }, async (_, i) => {
          const kind = i % 3;
          if (kind === 0) return pingOnce();
          const connection = await RawConnection.open(proxy.socketPath);
          // Half-sent head (kind 1) or nothing (kind 2), then gone.
          if (kind === 1) connection.write("GET /_ping HTTP/1.1\r\nHo");
          connection.close();
        }),
      );
    }
    // Let the proxy notice the last closes.
    let after = openFds(pid);
    const deadline = Date.now() + 10_000;
    while (after > before + 5 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = openFds(pid);
    }
    expect(after).toBeLessThanOrEqual(before + 5);
    await pingOnce();
  });
});
