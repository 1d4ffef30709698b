// Bounded load through one proxy process: many concurrent connections of
// mixed kinds with zero errors and every create labelled, request bodies to
// rewrite held under --max-buffered, then thousands of short connections
// without leaking file descriptors.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { useDindAndProxy } from "./support/dind-with-proxy.js";
import { BUSYBOX_IMAGE, type Dind, dockerApi } from "./support/dind.js";
import { createRequest, LABEL_NAME, LABEL_VALUE } from "./support/hardening/smuggle.js";
import { type ProxyProcess, startProxyProcess } from "./support/proxy-process.js";
import { parseHead, RawConnection } from "./support/raw-http.js";
import { writeTar } from "./support/tar-stream.js";

let dind: Dind;
let proxy: ProxyProcess;

// The compiled proxy, as shipped: these tests measure the process (memory,
// file descriptors), and tsx's loader would add its own ~33 MB to the RSS.
useDindAndProxy((started) => ({ dind, proxy } = started), { stopSignal: "SIGKILL", built: true });

/** A `kB` field of /proc/<pid>/status: VmRSS now, VmHWM the peak since resetPeak. */
function statusKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
}

/** Starts VmHWM over from the current RSS. */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

/** The highest VmHWM over `ms` of samples. */
async function peakOver(pid: number, ms: number): Promise<number> {
  let peakKb = 0;
  for (let waited = 0; waited < ms; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    peakKb = Math.max(peakKb, statusKb(pid, "VmHWM"));
  }
  return peakKb;
}

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
      const peakKb = statusKb(proxy.child.pid!, "VmHWM");
      expect(peakKb).toBeLessThan(150 * 1024);
      expect(idle.every((connection) => !connection.closed)).toBe(true);
    } finally {
      for (const connection of idle) connection.close();
    }
  }, 180_000);

  it("holds at most --max-buffered (64 MiB by default) of bodies to rewrite: 24 clients each sending 15 MiB of a 16 MiB create", async () => {
    const pid = proxy.child.pid!;
    // The peak from now on (the test before left the proxy's heap large).
    resetPeak(pid);
    const startKb = statusKb(pid, "VmRSS");
    const length = 16 * 1024 * 1024 - 1;
    const opening = Buffer.from(`{"Image":"${BUSYBOX_IMAGE}","Env":["X=`);
    const filler = Buffer.alloc(1024 * 1024, "x");
    const senders = await Promise.all(Array.from({ length: 24 }, () => RawConnection.open(proxy.socketPath)));
    try {
      for (const sender of senders) {
        sender.write(`POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`);
        sender.write(opening);
        for (let mib = 0; mib < 15; mib++) sender.write(filler);
      }
      // The proxy reads what its budget has room for (four bodies); the
      // rest stays in the senders and the kernel's socket buffers.
      const peakKb = await peakOver(pid, 4000);
      // Without the budget, all 24 bodies (360 MiB) were read in.
      expect(peakKb - startKb).toBeLessThan(160 * 1024);
    } finally {
      for (const sender of senders) sender.close();
    }
    // The shares of the bodies whose clients left are back: a create goes through at once
    // (it would wait 30 s and get 503 otherwise).
    const startedAt = Date.now();
    await createOnce();
    expect(Date.now() - startedAt).toBeLessThan(10_000);
  }, 120_000);

  it("stops reading a body to rewrite once the daemon has ended its connection (Connection: close before it)", async () => {
    const pid = proxy.child.pid!;
    resetPeak(pid);
    const startKb = statusKb(pid, "VmRSS");
    const filler = Buffer.alloc(1024 * 1024, "x");
    const senders = await Promise.all(Array.from({ length: 16 }, () => RawConnection.open(proxy.socketPath)));
    try {
      for (const sender of senders) {
        // The daemon answers the ping and ends the connection: the create behind it can never be sent.
        sender.write("GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n");
        sender.write(`POST /networks/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${16 * 1024 * 1024}\r\n\r\n{"Name":"`);
        for (let mib = 0; mib < 15; mib++) sender.write(filler);
      }
      const peakKb = await peakOver(pid, 3000);
      // Reading on (uncounted, as the budget had let the body go) took in 16 x 15 MiB.
      expect(peakKb - startKb).toBeLessThan(100 * 1024);
    } finally {
      for (const sender of senders) sender.close();
    }
  }, 60_000);

  it("a client that never reads its answer holds no share of the budget: the next large create goes through at once", async () => {
    const small = await startProxyProcess({ dockerSocket: dind.socketPath, args: ["--max-body", "1m", "--max-buffered", "1m"], built: true });
    const volume = `budget-unread-${process.pid}`;
    const network = `budget-probe-${process.pid}`;
    // The daemon's answer repeats the labels: about 900 KiB that this client never reads.
    const volumeBody = JSON.stringify({ Name: volume, Labels: { big: "v".repeat(900 * 1024) } });
    const silent = await RawConnection.open(small.socketPath);
    try {
      silent.socket.pause();
      silent.write(`POST /volumes/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${volumeBody.length}\r\n\r\n${volumeBody}`);
      const deadline = Date.now() + 20_000;
      while ((await dockerApi(dind.socketPath, "GET", `/volumes/${volume}`)).status !== 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const probeBody = JSON.stringify({ Name: network, Labels: { big: "n".repeat(900 * 1024) } });
      const startedAt = Date.now();
      const probe = await dockerApi(small.socketPath, "POST", "/networks/create", probeBody);
      expect(probe.status).toBe(201);
      expect(Date.now() - startedAt).toBeLessThan(10_000);
    } finally {
      silent.close();
      await small.stop();
      await dockerApi(dind.socketPath, "DELETE", `/networks/${network}`);
      await dockerApi(dind.socketPath, "DELETE", `/volumes/${volume}`);
    }
  }, 120_000);

  it("refuses with 413 at once a body of millions of tiny JSON values, staying small and serving others", async () => {
    const pid = proxy.child.pid!;
    resetPeak(pid);
    const startKb = statusKb(pid, "VmRSS");
    // 15 MiB of `0,`: 8 million values, each of which would cost the proxy a parsed object.
    const tiny = `{"Name":"x","X":[${"0,".repeat(8 * 1024 * 1024 - 16)}0]}`;
    const startedAt = Date.now();
    const answer = await dockerApi(proxy.socketPath, "POST", "/networks/create", tiny);
    expect(answer.status).toBe(413);
    expect((JSON.parse(answer.body) as { message: string }).message).toMatch(/JSON values/);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    // Parsed into a tree, this body took the proxy to 1.6 GB and stalled every connection for 9-15 s.
    expect(statusKb(pid, "VmHWM") - startKb).toBeLessThan(150 * 1024);
    await pingOnce();
  }, 60_000);

  it("a body with no room left waits for the one ahead instead of failing: both creates are made, labelled", async () => {
    const small = await startProxyProcess({ dockerSocket: dind.socketPath, args: ["--max-body", "1m", "--max-buffered", "1m"], built: true });
    const body = Buffer.from(JSON.stringify({ Image: BUSYBOX_IMAGE, Cmd: ["true"], Env: [`X=${"x".repeat(800 * 1024)}`] }));
    const head = `POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const [ahead, behind] = [await RawConnection.open(small.socketPath), await RawConnection.open(small.socketPath)];
    try {
      ahead.write(head);
      ahead.write(body.subarray(0, 400 * 1024));
      await new Promise((resolve) => setTimeout(resolve, 200));
      behind.write(head);
      behind.write(body);
      const behindAnswer = behind.readResponse({ timeoutMs: 30_000 });
      let behindAnswered = false;
      void behindAnswer.then(() => (behindAnswered = true));
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(behindAnswered).toBe(false);
      ahead.write(body.subarray(400 * 1024));
      const answers = [await ahead.readResponse({ timeoutMs: 30_000 }), await behindAnswer];
      expect(answers.map((answer) => answer.status)).toEqual([201, 201]);
      for (const answer of answers) {
        const id = (JSON.parse(answer.body.toString()) as { Id: string }).Id;
        const inspected = JSON.parse((await dockerApi(dind.socketPath, "GET", `/containers/${id}/json`)).body) as { Config: { Labels: Record<string, string> } };
        expect(inspected.Config.Labels[LABEL_NAME]).toBe(LABEL_VALUE);
        await dockerApi(dind.socketPath, "DELETE", `/containers/${id}?force=1`);
      }
    } finally {
      ahead.close();
      behind.close();
      await small.stop();
    }
  }, 120_000);

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
