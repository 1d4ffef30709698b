/**
 * Structured logs (pino, one JSON object per line on stdout).
 *
 * Registry credentials travel in X-Registry-Auth / X-Registry-Config; they are
 * redacted wherever headers are logged, whatever the case of the name.
 */
import { pino, type Logger } from "pino";
import { BatchedLineWriter } from "./batched-line-writer.js";

export const REDACTED_HEADERS = ["x-registry-auth", "x-registry-config"] as const;

/**
 * stdout, written in batches (see BatchedLineWriter): a busy proxy logs one
 * line per request, thousands a second. Nothing is scheduled while nothing is
 * logged, so an idle proxy does not wake up. What is left is written
 * synchronously at exit.
 */
function batchedStdout(): pino.DestinationStream {
  const writer = new BatchedLineWriter({ fd: 1 });
  process.once("exit", () => writer.flushSync());
  return writer;
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
