/**
 * Structured logs (pino, one JSON object per line on stdout).
 *
 * Registry credentials travel in X-Registry-Auth / X-Registry-Config; they are
 * redacted wherever headers are logged, whatever the case of the name.
 */
import { pino, type Logger } from "pino";

export const REDACTED_HEADERS = ["x-registry-auth", "x-registry-config"] as const;

/** Log lines wait at most this long in memory before they are written. */
const LOG_FLUSH_INTERVAL_MS = 50;

/**
 * stdout, written in batches: a busy proxy logs thousands of lines a second,
 * and one write per line costs a system call each (about a tenth of the CPU
 * spent on a `_ping`). Lines are written when 8 KiB have gathered or at most
 * 50 ms after the first unwritten line, and synchronously at exit.
 *
 * The flush timer is armed by a write, never left running: an idle proxy
 * must not wake up (a periodic flush wrote an empty buffer through the
 * thread pool 20 times a second).
 */
function batchedStdout(): pino.DestinationStream {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 8 * 1024 });
  let flushTimer: NodeJS.Timeout | undefined;
  const flushNow = () => {
    flushTimer = undefined;
    destination.flush();
  };
  process.once("exit", () => destination.flushSync());
  return {
    write(line: string): void {
      destination.write(line);
      flushTimer ??= setTimeout(flushNow, LOG_FLUSH_INTERVAL_MS).unref();
    },
  };
}

/** pino-pretty for people at a terminal: loaded only when asked for. */
async function prettyStdout(): Promise<pino.DestinationStream> {
  const { default: pretty } = await import("pino-pretty");
  return pretty({ colorize: process.stdout.isTTY === true, destination: 1, sync: false });
}

/** The destination `--log-format` asks for; auto is pretty on a terminal, json otherwise. */
export async function logDestination(format: "auto" | "json" | "pretty"): Promise<pino.DestinationStream> {
  const pretty = format === "pretty" || (format === "auto" && process.stdout.isTTY === true);
  return pretty ? prettyStdout() : batchedStdout();
}

export function createLogger(options: { debug: boolean; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: "dockerd-ci-proxy",
      level: options.debug ? "debug" : "info",
      base: { pid: process.pid },
      redact: { paths: REDACTED_HEADERS.map((name) => `headers["${name}"]`), censor: "[redacted]" },
    },
    options.destination ?? batchedStdout(),
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
