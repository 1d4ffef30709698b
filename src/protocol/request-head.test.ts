import { describe, expect, it } from "vitest";
import { ProxyError } from "../errors.js";
import { findHeadEnd } from "./http-head.js";
import { parseRequestHead, serializeRequestHead } from "./request-head.js";

const head = (text: string) => Buffer.from(text, "latin1");

function refusalCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ProxyError) return error.code;
    throw error;
  }
  return undefined;
}

describe("parseRequestHead", () => {
  it("reads method, target, version and framing", () => {
    const parsed = parseRequestHead(head("POST /v1.41/containers/create?name=x HTTP/1.1\r\nHost: d\r\nContent-Length: 12\r\n\r\n"));
    expect(parsed.method).toBe("POST");
    expect(parsed.target).toBe("/v1.41/containers/create?name=x");
    expect(parsed.framing).toEqual({ kind: "length", length: 12 });
    expect(parsed.wantsUpgrade).toBe(false);
  });

  it("reads chunked framing, Upgrade and Expect", () => {
    const parsed = parseRequestHead(
      head("POST /session HTTP/1.1\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nExpect: 100-continue\r\n\r\n"),
    );
    expect(parsed.framing).toEqual({ kind: "chunked" });
    expect(parsed.wantsUpgrade).toBe(true);
    expect(parsed.expectsContinue).toBe(true);
  });

  it("treats Content-Length 0 as no body", () => {
    expect(parseRequestHead(head("POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n")).framing).toEqual({ kind: "none" });
  });

  it.each([
    ["both Content-Length and Transfer-Encoding (CL.TE)", "POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", "DCP_AMBIGUOUS_FRAMING"],
    ["duplicate equal Content-Length", "POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n", "DCP_AMBIGUOUS_FRAMING"],
    ["conflicting Content-Length", "POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n", "DCP_AMBIGUOUS_FRAMING"],
    ["list Content-Length", "POST / HTTP/1.1\r\nContent-Length: 4, 4\r\n\r\n", "DCP_AMBIGUOUS_FRAMING"],
    ["signed Content-Length", "POST / HTTP/1.1\r\nContent-Length: +4\r\n\r\n", "DCP_AMBIGUOUS_FRAMING"],
    ["Transfer-Encoding other than chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "DCP_UNSUPPORTED_TRANSFER_ENCODING"],
    ["obfuscated Transfer-Encoding", "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", "DCP_UNSUPPORTED_TRANSFER_ENCODING"],
    ["repeated Transfer-Encoding", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "DCP_UNSUPPORTED_TRANSFER_ENCODING"],
    ["obs-fold", "POST / HTTP/1.1\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n", "DCP_BAD_REQUEST"],
    ["space before colon", "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n", "DCP_BAD_REQUEST"],
    ["absolute-form target", "POST http://d/containers/create HTTP/1.1\r\n\r\n", "DCP_BAD_TARGET"],
    ["HTTP/2 request line", "POST / HTTP/2.0\r\n\r\n", "DCP_BAD_REQUEST"],
    ["extra space in request line", "POST  / HTTP/1.1\r\n\r\n", "DCP_BAD_REQUEST"],
    ["Transfer-Encoding on HTTP/1.0 (Go ignores it)", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "DCP_AMBIGUOUS_FRAMING"],
  ])("refuses %s", (_name, text, code) => {
    expect(refusalCode(() => parseRequestHead(head(text)))).toBe(code);
  });

  it("accepts HTTP/1.0", () => {
    expect(parseRequestHead(head("GET /_ping HTTP/1.0\r\n\r\n")).version).toBe("HTTP/1.0");
  });
});

describe("findHeadEnd", () => {
  it("finds the blank line", () => {
    const bytes = head("GET / HTTP/1.1\r\nHost: d\r\n\r\nrest");
    expect(findHeadEnd(bytes)).toBe(bytes.length - 4);
  });
  it("needs more bytes when the blank line has not arrived", () => {
    expect(findHeadEnd(head("GET / HTTP/1.1\r\nHost: d\r\n"))).toBe(-1);
  });
  it("refuses bare LF line endings", () => {
    expect(refusalCode(() => findHeadEnd(head("GET / HTTP/1.1\nHost: d\n\n")))).toBe("DCP_BAD_REQUEST");
  });
});

describe("serializeRequestHead", () => {
  it("reframes a rewritten body with Content-Length and drops Transfer-Encoding", () => {
    const parsed = parseRequestHead(head("POST /x?a=1 HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"));
    const text = serializeRequestHead(parsed, { target: "/x?a=2", bodyLength: 7, dropHeaders: new Set(["expect"]) }).toString("latin1");
    expect(text).toBe("POST /x?a=2 HTTP/1.1\r\nHost: d\r\nContent-Length: 7\r\n\r\n");
  });
});
