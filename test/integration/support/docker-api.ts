// Talks to a Docker daemon straight over its UNIX socket with node:http.
// Tests use it to look at the daemon DIRECTLY (never through the proxy), so it
// stays deliberately dumb: no client library, no version prefix, no retries.
import { request } from "node:http";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";

export interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One request to the daemon behind `socketPath`. An object body is sent as
 * JSON; a string body is sent unchanged, also as JSON, because the daemon
 * refuses a body without `Content-Type: application/json` (DAEMON-FACTS.md).
 */
export function dockerApi(
  socketPath: string,
  method: string,
  path: string,
  body?: object | string,
): Promise<ApiResponse> {
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  const headers: Record<string, string | number> = {};
  if (payload !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["Content-Length"] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    // agent: false: a fresh connection per call, so no keep-alive socket
    // outlives a test and keeps its worker (or a stopped daemon) busy.
    const req = request({ socketPath, method, path, headers, agent: false }, (res) => {
      readBody(res).then((text) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }), reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** A whole response body as UTF-8 text. */
export function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (chunk: Buffer) => chunks.push(chunk));
    res.on("error", reject);
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

/** The socket path of a `unix://` DOCKER_HOST; anything else is refused. */
export function socketPathOf(dockerHost: string): string {
  const url = new URL(dockerHost);
  if (url.protocol !== "unix:" || url.pathname === "") {
    throw new Error(`expected a unix:// Docker host, got ${JSON.stringify(dockerHost)}`);
  }
  return url.pathname;
}
