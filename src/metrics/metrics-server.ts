/**
 * `--metrics-listen`: serves GET /metrics on a UNIX socket path or a TCP
 * `host:port` (a bare `:port` listens on loopback only: the metrics name the
 * API calls jobs make, which is not for everyone on the network).
 */
import { createServer, type Server } from "node:http";
import { lstatSync, unlinkSync } from "node:fs";
import { ConfigError } from "../errors.js";
import type { ProxyMetrics } from "./prometheus-metrics.js";

export type MetricsAddress = { readonly path: string } | { readonly host: string; readonly port: number };

export function parseMetricsAddress(text: string): MetricsAddress {
  if (text.startsWith("/")) return { path: text };
  if (text.startsWith("unix://")) return { path: text.slice("unix://".length) };
  const match = /^(.*):([0-9]{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    throw new ConfigError(`--metrics-listen must be a socket path or host:port, not ${JSON.stringify(text)}`);
  }
  return { host: match[1] === "" ? "127.0.0.1" : match[1]!.replace(/^\[(.*)\]$/, "$1"), port };
}

export async function serveMetrics(metrics: ProxyMetrics, address: MetricsAddress): Promise<{ close(): void }> {
  const server: Server = createServer((request, response) => {
    if (request.method !== "GET" || (request.url ?? "").split("?")[0] !== "/metrics") {
      response.writeHead(404, { "Content-Type": "text/plain" }).end("only GET /metrics is served here\n");
      return;
    }
    response.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }).end(metrics.render());
  });
  // A socket left by an earlier run is replaced; any other file is not touched.
  if ("path" in address && isSocket(address.path)) unlinkSync(address.path);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if ("path" in address) server.listen(address.path, resolve);
    else server.listen(address.port, address.host, resolve);
  });
  return {
    close() {
      server.close();
      server.closeAllConnections();
    },
  };
}

function isSocket(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}
