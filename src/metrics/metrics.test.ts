import { describe, expect, it } from "vitest";
import { RewriteError } from "../errors.js";
import { testRequest } from "../pipeline/test-requests.js";
import type { Exchange } from "../sinks/response-relay.js";
import { parseMetricsAddress } from "./metrics-server.js";
import { ProxyMetrics } from "./prometheus-metrics.js";

function exchange(head: string, status: number, extra: Partial<Exchange> = {}): Exchange {
  return { request: testRequest(head), status, bytesOut: 100, hijacked: false, durationMs: 1, ...extra };
}

function gauges(hijacked: number, heldBytes = 0, waiting = 0) {
  return { hijackedSessions: () => hijacked, bufferedBodies: () => ({ heldBytes, waiting }) };
}

describe("ProxyMetrics", () => {
  it("shows the bodies buffered now and those waiting for room", () => {
    const text = new ProxyMetrics(gauges(0, 4096, 3)).render();
    expect(text).toMatch(/^dcp_buffered_body_bytes 4096$/m);
    expect(text).toMatch(/^dcp_bodies_waiting 3$/m);
  });

  it("counts requests by kind, method and status, never by path", () => {
    const metrics = new ProxyMetrics(gauges(2));
    metrics.record(exchange("GET /containers/abc123/json HTTP/1.1\r\n\r\n", 200));
    metrics.record(exchange("GET /containers/def456/json HTTP/1.1\r\n\r\n", 200));
    const text = metrics.render();
    expect(text).toContain('dcp_requests_total{kind="passthrough",method="GET",status="200"} 2');
    expect(text).not.toContain("abc123");
    expect(text).toContain("dcp_hijacked_sessions 2");
    expect(text).toContain("dcp_response_bytes_total 200");
  });

  it("counts accepted labelled creations and refusals by code", () => {
    const metrics = new ProxyMetrics(gauges(0));
    const created = exchange("POST /containers/create HTTP/1.1\r\n\r\n", 201);
    created.request.injection.labels = new Map([["a", "b"]]);
    metrics.record(created);
    const refused = exchange("POST /build HTTP/1.1\r\n\r\n", 400, { error: new RewriteError("DCP_BAD_CONTENT_TYPE", "no") });
    refused.request.injection.labels = new Map([["a", "b"]]);
    metrics.record(refused);
    const text = metrics.render();
    expect(text).toContain("dcp_labels_injected_total 1");
    expect(text).toContain('dcp_refusals_total{code="DCP_BAD_CONTENT_TYPE"} 1');
  });
});

describe("parseMetricsAddress", () => {
  it.each([
    ["/run/dcp/metrics.sock", { path: "/run/dcp/metrics.sock" }],
    ["unix:///run/m.sock", { path: "/run/m.sock" }],
    [":9100", { host: "127.0.0.1", port: 9100 }],
    ["0.0.0.0:9100", { host: "0.0.0.0", port: 9100 }],
    ["[::1]:9100", { host: "::1", port: 9100 }],
  ])("reads %s", (text, address) => {
    expect(parseMetricsAddress(text)).toEqual(address);
  });

  it("refuses what is neither a path nor host:port", () => {
    expect(() => parseMetricsAddress("metrics")).toThrow(/--metrics-listen/);
    expect(() => parseMetricsAddress(":99999")).toThrow(/--metrics-listen/);
  });
});
