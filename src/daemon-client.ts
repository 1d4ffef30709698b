/**
 * The proxy's own calls to the daemon (the reaper's lists and removals, the
 * volumes created ahead of a container): node:http over the UNIX socket,
 * UNVERSIONED paths (the daemon answers at its own API version), one
 * connection per call, a timeout on each.
 */
import { request } from "node:http";

export interface DaemonAnswer {
  readonly status: number;
  /** The body as text (JSON on success, `{"message": …}` on errors). */
  readonly body: string;
}

export interface DaemonClient {
  /** `json`, when given, is sent as the body with `Content-Type: application/json`. */
  call(method: "GET" | "DELETE" | "POST", path: string, json?: unknown): Promise<DaemonAnswer>;
}

export const REQUEST_TIMEOUT_MS = 60_000;

export function daemonClient(socketPath: string, timeoutMs = REQUEST_TIMEOUT_MS): DaemonClient {
  return {
    call(method, path, json) {
      return new Promise((resolve, reject) => {
        const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json), "utf8");
        const headers = body === undefined ? {} : { "Content-Type": "application/json", "Content-Length": body.length };
        // agent: false: one connection per call, closed after the answer.
        const req = request({ socketPath, method, path, headers, agent: false, timeout: timeoutMs }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        });
        req.on("timeout", () => req.destroy(new Error(`no answer to ${method} ${path} within ${timeoutMs} ms`)));
        req.on("error", reject);
        req.end(body);
      });
    },
  };
}

/** The daemon's `{"message": …}`, or the raw text when it is not that. */
export function daemonMessage(answer: DaemonAnswer): string {
  try {
    const parsed = JSON.parse(answer.body) as { message?: unknown };
    if (typeof parsed.message === "string") return parsed.message;
  } catch {
    // not JSON: fall through
  }
  return answer.body.trim() || `HTTP ${answer.status}`;
}
