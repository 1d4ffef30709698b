/**
 * The head of one daemon response, read only as far as the proxy needs: where
 * its body ends and whether the connection turns into a raw stream.
 */
import { DaemonError } from "../errors.js";
import { type HeaderFields, headerTokens, headerValues, parseHeadLines } from "./http-head.js";

export type ResponseFraming =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" }
  | { readonly kind: "until-close" };

export interface ResponseHead {
  readonly status: number;
  readonly fields: HeaderFields;
  readonly contentType: string;
  readonly closesConnection: boolean;
}

export function parseResponseHead(raw: Buffer): ResponseHead {
  let parsed: ReturnType<typeof parseHeadLines>;
  try {
    parsed = parseHeadLines(raw.toString("latin1", 0, raw.length - 4));
  } catch (error) {
    throw new DaemonError("DCP_DAEMON_PROTOCOL", "the daemon sent a malformed response head", { cause: error });
  }
  const match = /^HTTP\/1\.[01] ([0-9]{3})(?: .*)?$/.exec(parsed.startLine);
  if (!match) throw new DaemonError("DCP_DAEMON_PROTOCOL", "the daemon sent a malformed status line");
  const version10 = parsed.startLine.startsWith("HTTP/1.0");
  const connection = headerTokens(parsed.fields, "connection");
  return {
    status: Number(match[1]),
    fields: parsed.fields,
    contentType: (headerValues(parsed.fields, "content-type")[0] ?? "").toLowerCase(),
    closesConnection: connection.includes("close") || (version10 && !connection.includes("keep-alive")),
  };
}

/** RFC 9112 §6.3, from the daemon's side: it is trusted to frame its own answers. */
export function responseFraming(head: ResponseHead, requestMethod: string): ResponseFraming {
  if (requestMethod === "HEAD" || head.status === 204 || head.status === 304 || (head.status >= 100 && head.status < 200)) {
    return { kind: "none" };
  }
  if (headerTokens(head.fields, "transfer-encoding").includes("chunked")) return { kind: "chunked" };
  const length = headerValues(head.fields, "content-length")[0];
  if (length !== undefined) {
    const value = Number(length.trim());
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new DaemonError("DCP_DAEMON_PROTOCOL", "the daemon sent an invalid Content-Length");
    }
    return value === 0 ? { kind: "none" } : { kind: "length", length: value };
  }
  return { kind: "until-close" };
}
