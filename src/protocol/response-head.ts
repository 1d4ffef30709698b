/**
 * The head of one daemon response, read only as far as the proxy needs: where
 * its body ends and whether the connection turns into a raw stream.
 *
 * Every response passes through here, so it is one scan over the head that
 * looks only at the three fields the relay uses (Content-Length,
 * Transfer-Encoding, Content-Type) and allocates nothing for the
 * others: the bytes themselves are relayed unchanged, so the client reads the
 * rest. Lines are still checked for the shape HTTP requires (a name before a
 * colon, no obsolete folding), so a daemon that breaks framing is noticed.
 */
import { DaemonError } from "../errors.js";
import { listTokens } from "./http-head.js";

export type ResponseFraming =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" }
  | { readonly kind: "until-close" };

export interface ResponseHead {
  readonly status: number;
  /** The first Content-Type, lower-cased ("" when none). */
  readonly contentType: string;
  /** Transfer-Encoding lists "chunked". */
  readonly chunked: boolean;
  /** The first Content-Length as sent, or undefined. */
  readonly contentLength: string | undefined;
}

const STATUS_LINE = /^HTTP\/1\.[01] ([0-9]{3})(?: [^\r\n]*)?$/;
const DIGITS = /^[0-9]+$/;
const NONE: ResponseFraming = { kind: "none" };
const CHUNKED: ResponseFraming = { kind: "chunked" };
const UNTIL_CLOSE: ResponseFraming = { kind: "until-close" };

export function parseResponseHead(raw: Buffer): ResponseHead {
  // latin1: one char per byte, and no decoding work.
  const text = raw.toString("latin1", 0, raw.length - 4);
  let lineEnd = text.indexOf("\r\n");
  if (lineEnd === -1) lineEnd = text.length;
  const status = STATUS_LINE.exec(text.slice(0, lineEnd));
  if (!status) throw new DaemonError("DCP_DAEMON_PROTOCOL", "the daemon sent a malformed status line");

  let contentType: string | undefined;
  let contentLength: string | undefined;
  let transferEncoding = "";
  let start = lineEnd + 2;
  while (start < text.length) {
    let end = text.indexOf("\r\n", start);
    if (end === -1) end = text.length;
    const first = text.charCodeAt(start);
    const colon = text.indexOf(":", start);
    if (first === 0x20 || first === 0x09 || colon <= start || colon > end) {
      throw new DaemonError("DCP_DAEMON_PROTOCOL", "the daemon sent a malformed response head");
    }
    // Only names starting with c or t can be one of the three: skip the rest unread.
    if (first === 0x63 || first === 0x43 || first === 0x74 || first === 0x54) {
      const name = text.slice(start, colon).toLowerCase();
      if (name === "content-length") contentLength ??= text.slice(colon + 1, end).trim();
      else if (name === "content-type") contentType ??= text.slice(colon + 1, end).trim().toLowerCase();
      else if (name === "transfer-encoding") transferEncoding += `,${text.slice(colon + 1, end).trim().toLowerCase()}`;
    }
    start = end + 2;
  }
  return {
    status: Number(status[1]),
    contentType: contentType ?? "",
    chunked: transferEncoding.length > 0 && listTokens(transferEncoding).includes("chunked"),
    contentLength,
  };
}

/** RFC 9112 §6.3, from the daemon's side: it is trusted to frame its own answers. */
export function responseFraming(head: ResponseHead, requestMethod: string): ResponseFraming {
  if (requestMethod === "HEAD" || head.status === 204 || head.status === 304 || (head.status >= 100 && head.status < 200)) {
    return NONE;
  }
  if (head.chunked) return CHUNKED;
  if (head.contentLength !== undefined) {
    const value = Number(head.contentLength);
    if (!DIGITS.test(head.contentLength) || !Number.isSafeInteger(value)) {
      throw new DaemonError("DCP_DAEMON_PROTOCOL", "the daemon sent an invalid Content-Length");
    }
    return value === 0 ? NONE : { kind: "length", length: value };
  }
  return UNTIL_CLOSE;
}
