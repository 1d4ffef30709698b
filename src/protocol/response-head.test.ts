import { describe, expect, it } from "vitest";
import { parseResponseHead, responseFraming } from "./response-head.js";

function head(...lines: string[]): Buffer {
  return Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");
}

describe("parseResponseHead", () => {
  it("reads the status and the three fields the relay uses, whatever their case", () => {
    const parsed = parseResponseHead(
      head("HTTP/1.1 201 Created", "Api-Version: 1.47", "CONTENT-TYPE: Application/JSON", "content-length:  52 ", "Date: x"),
    );
    expect(parsed).toEqual({ status: 201, contentType: "application/json", chunked: false, contentLength: "52" });
  });

  it("keeps the first Content-Type and Content-Length", () => {
    const parsed = parseResponseHead(head("HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Type: x/y", "Content-Length: 2", "Content-Length: 9"));
    expect(parsed.contentType).toBe("text/plain");
    expect(parsed.contentLength).toBe("2");
  });

  it("finds chunked in any Transfer-Encoding line or list", () => {
    expect(parseResponseHead(head("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, Chunked")).chunked).toBe(true);
    expect(parseResponseHead(head("HTTP/1.1 200 OK", "Transfer-Encoding: gzip", "transfer-encoding: chunked")).chunked).toBe(true);
    expect(parseResponseHead(head("HTTP/1.1 200 OK", "Transfer-Encoding: gzip")).chunked).toBe(false);
    expect(parseResponseHead(head("HTTP/1.1 200 OK", "Trailer: chunked")).chunked).toBe(false);
  });

  it("accepts a status line without a reason phrase", () => {
    expect(parseResponseHead(head("HTTP/1.1 204")).status).toBe(204);
  });

  it.each([
    ["a malformed status line", ["HTTP/2 200 OK"]],
    ["a three-digit status that is not one", ["HTTP/1.1 20 OK"]],
    ["a line without a colon", ["HTTP/1.1 200 OK", "Content-Length 2"]],
    ["a line starting with a colon", ["HTTP/1.1 200 OK", ": 2"]],
    ["obsolete line folding", ["HTTP/1.1 200 OK", "Content-Type: text/plain", " continued"]],
  ])("refuses %s", (_what, lines) => {
    expect(() => parseResponseHead(head(...lines))).toThrow(expect.objectContaining({ code: "DCP_DAEMON_PROTOCOL" }));
  });
});

describe("responseFraming", () => {
  const frame = (method: string, ...lines: string[]) => responseFraming(parseResponseHead(head(...lines)), method);

  it("gives bodyless answers no body", () => {
    expect(frame("HEAD", "HTTP/1.1 200 OK", "Content-Length: 10")).toEqual({ kind: "none" });
    expect(frame("DELETE", "HTTP/1.1 204 No Content")).toEqual({ kind: "none" });
    expect(frame("GET", "HTTP/1.1 304 Not Modified", "Content-Length: 10")).toEqual({ kind: "none" });
    expect(frame("GET", "HTTP/1.1 100 Continue")).toEqual({ kind: "none" });
    expect(frame("GET", "HTTP/1.1 200 OK", "Content-Length: 0")).toEqual({ kind: "none" });
  });

  it("prefers chunked over a length, and reads to close without either", () => {
    expect(frame("GET", "HTTP/1.1 200 OK", "Content-Length: 5", "Transfer-Encoding: chunked")).toEqual({ kind: "chunked" });
    expect(frame("GET", "HTTP/1.1 200 OK", "Content-Length: 5")).toEqual({ kind: "length", length: 5 });
    expect(frame("GET", "HTTP/1.1 200 OK")).toEqual({ kind: "until-close" });
  });

  it.each(["", "-1", "1e3", "0x10", "12abc", "99999999999999999999"])("refuses Content-Length %j", (value) => {
    expect(() => frame("GET", "HTTP/1.1 200 OK", `Content-Length: ${value}`)).toThrow(expect.objectContaining({ code: "DCP_DAEMON_PROTOCOL" }));
  });
});
