/**
 * The proxy's own answers, shaped like the daemon's so that clients print them
 * well: body `{"message": …}` and `Content-Type: application/json` exactly
 * (with a charset parameter the Go client prints the raw JSON instead).
 */
import { STATUS_CODES } from "node:http";
import type { ProxyError } from "../errors.js";

export function errorResponse(error: ProxyError, options: { close: boolean }): Buffer {
  const body = `${JSON.stringify({ message: error.message })}\n`;
  const reason = STATUS_CODES[error.status] ?? "Error";
  const head =
    `HTTP/1.1 ${error.status} ${reason}\r\n` +
    "Content-Type: application/json\r\n" +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    "X-Docker-Ci-Proxy-Error: " + error.code + "\r\n" +
    (options.close ? "Connection: close\r\n" : "") +
    "\r\n";
  return Buffer.from(head + body, "utf8");
}

export const CONTINUE_RESPONSE = Buffer.from("HTTP/1.1 100 Continue\r\n\r\n", "latin1");
