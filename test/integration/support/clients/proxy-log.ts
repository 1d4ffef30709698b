// Reads the proxy's per-request log lines (JSON, one per finished exchange),
// the evidence that a client's request really went through the proxy.
import type { ProxyProcess } from "../proxy-process.js";

export interface RequestLogEntry {
  method: string;
  /** Decoded, unversioned path without the query. */
  route: string;
  status?: number;
  hijacked?: boolean;
  /** Bytes sent to the client. */
  bytesOut?: number;
  msg: string;
}

/** A position in the log: only entries after it count for the next wait. */
export function logMark(proxy: ProxyProcess): number {
  return proxy.logs().length;
}

/** The request entries logged after `since` (complete lines only). */
export function requestEntries(proxy: ProxyProcess, since = 0): RequestLogEntry[] {
  const lines = proxy.logs().slice(since).split("\n");
  lines.pop(); // an unfinished line, or "" after the last newline
  const entries: RequestLogEntry[] = [];
  for (const line of lines) {
    if (!line.startsWith("{")) continue;
    try {
      const entry = JSON.parse(line) as Partial<RequestLogEntry>;
      if (typeof entry.route === "string" && typeof entry.method === "string") entries.push(entry as RequestLogEntry);
    } catch {
      // not a log line of ours
    }
  }
  return entries;
}

/**
 * Waits for a request entry after `since` that matches `expected`. An
 * exchange is logged when it ends (a hijacked one when its connection
 * closes), which can be a moment after the client has exited.
 */
export async function waitForRequest(
  proxy: ProxyProcess,
  since: number,
  expected: { method?: string; route: string | RegExp; status?: number; hijacked?: boolean },
  timeoutMs = 10_000,
): Promise<RequestLogEntry> {
  const matches = (entry: RequestLogEntry): boolean =>
    (expected.method === undefined || entry.method === expected.method) &&
    (typeof expected.route === "string" ? entry.route === expected.route : expected.route.test(entry.route)) &&
    (expected.status === undefined || entry.status === expected.status) &&
    (expected.hijacked === undefined || entry.hijacked === expected.hijacked);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = requestEntries(proxy, since).find(matches);
    if (found) return found;
    if (Date.now() > deadline) {
      const seen = requestEntries(proxy, since).map((e) => `${e.method} ${e.route} ${e.status} hijacked=${e.hijacked}`);
      throw new Error(`no proxy log entry like ${JSON.stringify({ ...expected, route: String(expected.route) })}; logged since the mark:\n${seen.join("\n")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
