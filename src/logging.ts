/**
 * Structured logs (pino, one JSON object per line on stdout).
 *
 * Registry credentials travel in X-Registry-Auth / X-Registry-Config; they are
 * redacted wherever headers are logged, whatever the case of the name.
 */
import { pino, type Logger } from "pino";

export const REDACTED_HEADERS = ["x-registry-auth", "x-registry-config"] as const;

export function createLogger(options: { debug: boolean; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: "dockerd-ci-proxy",
      level: options.debug ? "debug" : "info",
      base: { pid: process.pid },
      redact: { paths: REDACTED_HEADERS.map((name) => `headers["${name}"]`), censor: "[redacted]" },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** Header fields as an object for debug logs: lower-case names, repeated values joined. */
export function headersForLog(fields: ReadonlyArray<readonly [string, string]>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of fields) {
    const key = name.toLowerCase();
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
  }
  return headers;
}
