import { describe, expect, it } from "vitest";
import { ProxyError } from "../errors.js";
import { ChunkedScanner, decodeChunked } from "./chunked.js";

const bytes = (text: string) => Buffer.from(text, "latin1");

describe("ChunkedScanner", () => {
  it("finds the end of a body split across reads, byte by byte", () => {
    const body = bytes("5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
    const scanner = new ChunkedScanner();
    let consumed = 0;
    for (let i = 0; i < body.length; i++) consumed += scanner.scan(body.subarray(i, i + 1));
    expect(scanner.done).toBe(true);
    expect(consumed).toBe(body.length);
    expect(decodeChunked(body).toString()).toBe("hello world");
  });

  it("stops exactly at the end and leaves the next request's bytes", () => {
    const scanner = new ChunkedScanner();
    const wire = bytes("3\r\nabc\r\n0\r\n\r\nGET /_ping HTTP/1.1\r\n\r\n");
    expect(scanner.scan(wire)).toBe("3\r\nabc\r\n0\r\n\r\n".length);
    expect(scanner.done).toBe(true);
  });

  it.each([
    ["a negative size", "-1\r\n"],
    ["a 0x prefix", "0x5\r\nhello\r\n"],
    ["a space in the size", "5 \r\nhello\r\n"],
    ["a size that overflows", "fffffffffffffffff\r\n"],
    ["17 digits, even with leading zeros (Go counts them)", "00000000000000005\r\nhello\r\n"],
    ["a bare LF after the size", "5\nhello\r\n"],
    ["data longer than its size", "3\r\nhello\r\n"],
    ["an empty size", "\r\n"],
  ])("refuses %s", (_name, text) => {
    const scanner = new ChunkedScanner();
    expect(() => scanner.scan(bytes(text))).toThrow(ProxyError);
  });
});
