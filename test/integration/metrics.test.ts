// --metrics-listen: scraped for real after real traffic through the proxy.
import { mkdtempSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSYBOX_IMAGE, type Dind, dockerApi, startDind } from "./support/dind.js";
import { type ProxyProcess, startProxyProcess } from "./support/proxy-process.js";
import { RawConnection } from "./support/raw-http.js";

let dind: Dind;
let proxy: ProxyProcess;
const metricsSocket = join(mkdtempSync(join(tmpdir(), "dcp-metrics-")), "metrics.sock");

beforeAll(async () => {
  dind = await startDind();
  proxy = await startProxyProcess({ dockerSocket: dind.socketPath, args: ["--metrics-listen", metricsSocket] });
});

afterAll(async () => {
  await proxy?.stop();
  await dind?.stop();
});

function scrape(): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: metricsSocket, path: "/metrics", agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"]), body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("metrics", () => {
  it("counts requests, injected labels, refusals, open raw streams and bytes", async () => {
    expect((await dockerApi(proxy.socketPath, "GET", "/_ping")).status).toBe(200);
    const created = await dockerApi(proxy.socketPath, "POST", "/containers/create", { Image: BUSYBOX_IMAGE, Cmd: ["cat"], OpenStdin: true });
    expect(created.status).toBe(201);
    const id = (JSON.parse(created.body) as { Id: string }).Id;
    const refused = await dockerApi(proxy.socketPath, "POST", "/containers/create", "{not json");
    expect(refused.status).toBe(400);
    const attach = await RawConnection.open(proxy.socketPath);
    attach.write(`POST /containers/${id}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
    await attach.waitFor((received) => received.includes("101"));

    const scraped = await scrape();
    expect(scraped.status).toBe(200);
    expect(scraped.contentType).toContain("text/plain; version=0.0.4");
    expect(scraped.body).toMatch(/^dcp_requests_total\{kind="passthrough",method="GET",status="200"\} [1-9]/m);
    expect(scraped.body).toMatch(/^dcp_requests_total\{kind="container-create",method="POST",status="201"\} 1$/m);
    expect(scraped.body).toMatch(/^dcp_labels_injected_total 1$/m);
    expect(scraped.body).toMatch(/^dcp_refusals_total\{code="DCP_INVALID_JSON"\} 1$/m);
    expect(scraped.body).toMatch(/^dcp_hijacked_sessions 1$/m);
    expect(Number(/^dcp_response_bytes_total (\d+)$/m.exec(scraped.body)?.[1])).toBeGreaterThan(0);

    attach.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await scrape()).body).toMatch(/^dcp_hijacked_sessions 0$/m);
  });

  it("shows the request bodies held for rewriting, and gives them back when their client goes", async () => {
    const holder = await RawConnection.open(proxy.socketPath);
    holder.write(`POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"Image":"`);
    const deadline = Date.now() + 10_000;
    let held = "";
    while (Date.now() < deadline && !/^dcp_buffered_body_bytes 5000$/m.test(held)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      held = (await scrape()).body;
    }
    expect(held).toMatch(/^dcp_buffered_body_bytes 5000$/m);
    expect(held).toMatch(/^dcp_bodies_waiting 0$/m);
    holder.close();
    let after = "";
    while (Date.now() < deadline && !/^dcp_buffered_body_bytes 0$/m.test(after)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = (await scrape()).body;
    }
    expect(after).toMatch(/^dcp_buffered_body_bytes 0$/m);
  });
});
