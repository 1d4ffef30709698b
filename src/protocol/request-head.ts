/**
 * The head of one client request, and how its body is framed.
 *
 * Framing follows RFC 9112 §6 and refuses every ambiguous case rather than
 * picking a reading: Transfer-Encoding together with Content-Length, repeated
 * or non-numeric Content-Length, and any transfer coding other than a single
 * "chunked" are all refused before a byte reaches the daemon.
 */
import { RequestRefusedError } from "../errors.js";
import { type HeaderFields, headerTokens, headerValues, isToken, parseHeadLines } from "./http-head.js";

export type BodyFraming =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" };

export interface RequestHead {
  readonly method: string;
  /** The request-target exactly as sent (origin-form: path and query). */
  readonly target: string;
  readonly version: "HTTP/1.1" | "HTTP/1.0";
  readonly fields: HeaderFields;
  /** The head's bytes as received, blank line included: forwarded as-is when nothing is rewritten. */
  readonly raw: Buffer;
  readonly framing: BodyFraming;
  /** The client asked to switch protocols (Upgrade header, e.g. "tcp" or "h2c"). */
  readonly wantsUpgrade: boolean;
  readonly expectsContinue: boolean;
}

const NO_BODY: BodyFraming = { kind: "none" };

export function parseRequestHead(raw: Buffer): RequestHead {
  // latin1 keeps one char per byte, so obs-text in values survives re-serialization.
  const { startLine, fields } = parseHeadLines(raw.toString("latin1", 0, raw.length - 4));
  const parts = startLine.split(" ");
  if (parts.length !== 3) throw new RequestRefusedError("DCP_BAD_REQUEST", "malformed HTTP request line");
  const [method, target, version] = parts as [string, string, string];
  if (!isToken(method)) throw new RequestRefusedError("DCP_BAD_REQUEST", "malformed HTTP request method");
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    throw new RequestRefusedError("DCP_BAD_REQUEST", `unsupported HTTP version ${JSON.stringify(version)}`, 505);
  }
  // Only origin-form: Go would route an absolute-form target by its path, and
  // this proxy has no reason to accept a form that is easy to misread.
  if (!target.startsWith("/") || !/^[\x21-\x7e\x80-\xff]+$/.test(target)) {
    throw new RequestRefusedError("DCP_BAD_TARGET", "malformed HTTP request target: only origin-form paths are accepted");
  }
  const upgrade = headerValues(fields, "upgrade");
  return {
    method,
    target,
    version,
    fields,
    raw,
    framing: bodyFraming(fields, version),
    wantsUpgrade: upgrade.some((value) => value.trim().length > 0),
    expectsContinue: headerTokens(fields, "expect").includes("100-continue"),
  };
}

function bodyFraming(fields: HeaderFields, version: string): BodyFraming {
  const transferCodings = headerTokens(fields, "transfer-encoding");
  const lengths = headerValues(fields, "content-length");
  const hasTransferEncoding = headerValues(fields, "transfer-encoding").length > 0;
  // Go ignores Transfer-Encoding on HTTP/1.0 requests (net/http transfer.go),
  // so the daemon would read the chunks as the next request.
  if (hasTransferEncoding && version === "HTTP/1.0") {
    throw new RequestRefusedError("DCP_AMBIGUOUS_FRAMING", "malformed HTTP request: Transfer-Encoding in an HTTP/1.0 request");
  }
  if (hasTransferEncoding && lengths.length > 0) {
    throw new RequestRefusedError("DCP_AMBIGUOUS_FRAMING", "malformed HTTP request: both Transfer-Encoding and Content-Length");
  }
  if (hasTransferEncoding) {
    if (transferCodings.length !== 1 || transferCodings[0] !== "chunked") {
      throw new RequestRefusedError(
        "DCP_UNSUPPORTED_TRANSFER_ENCODING",
        `unsupported Transfer-Encoding ${JSON.stringify(headerValues(fields, "transfer-encoding").join(", "))}`,
        501,
      );
    }
    return { kind: "chunked" };
  }
  if (lengths.length > 1) {
    throw new RequestRefusedError("DCP_AMBIGUOUS_FRAMING", "malformed HTTP request: repeated Content-Length");
  }
  const length = lengths[0];
  if (length === undefined) return NO_BODY;
  if (!/^[0-9]{1,15}$/.test(length)) {
    throw new RequestRefusedError("DCP_AMBIGUOUS_FRAMING", `malformed HTTP request: invalid Content-Length ${JSON.stringify(length)}`);
  }
  const value = Number(length);
  return value === 0 ? NO_BODY : { kind: "length", length: value };
}

/** Re-serializes a head after a rewrite, with the body framed by Content-Length. */
export function serializeRequestHead(
  head: RequestHead,
  changes: {
    target?: string;
    bodyLength?: number;
    dropHeaders?: ReadonlySet<string>;
    addHeaders?: ReadonlyArray<readonly [string, string]>;
  },
): Buffer {
  const dropped = new Set(changes.dropHeaders ?? []);
  const bodyLength = changes.bodyLength;
  if (bodyLength !== undefined) {
    dropped.add("content-length");
    dropped.add("transfer-encoding");
  }
  let text = `${head.method} ${changes.target ?? head.target} ${head.version}\r\n`;
  for (const [name, value] of head.fields) {
    if (dropped.size > 0 && dropped.has(name.toLowerCase())) continue;
    text += `${name}: ${value}\r\n`;
  }
  for (const [name, value] of changes.addHeaders ?? []) text += `${name}: ${value}\r\n`;
  if (bodyLength !== undefined) text += `Content-Length: ${bodyLength}\r\n`;
  return Buffer.from(`${text}\r\n`, "latin1");
}
