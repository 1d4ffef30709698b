/**
 * Incremental scanner for the chunked transfer coding (RFC 9112 §7.1).
 *
 * The proxy forwards chunked bodies byte-for-byte, so it does not need to
 * decode them on the way; it needs to know, exactly and strictly, where the
 * body ends, so that the next pipelined request is classified like the first.
 * A chunk size that is not pure hex, a line without CRLF or a missing CRLF
 * after the data ends the connection: a lenient reading here is how requests
 * are smuggled past proxies.
 */
import { RequestRefusedError } from "../errors.js";

const CR = 0x0d;
const LF = 0x0a;
/** Longest chunk-size line we accept (size, extensions and CRLF). */
const MAX_LINE = 4096;
/** Chunk sizes above 2^53 cannot be counted exactly in a JS number. */
const MAX_HEX_DIGITS = 13;

type State =
  | { kind: "size-line"; line: number[] }
  | { kind: "data"; remaining: number }
  | { kind: "data-cr" }
  | { kind: "data-lf" }
  | { kind: "trailer-line"; line: number[] }
  | { kind: "done" };

export class ChunkedScanner {
  private state: State = { kind: "size-line", line: [] };

  get done(): boolean {
    return this.state.kind === "done";
  }

  /**
   * Consumes bytes of `chunk` from `offset` and returns how many belong to the
   * body (all of them unless the body ends inside this chunk).
   */
  scan(chunk: Buffer, offset = 0): number {
    let i = offset;
    while (i < chunk.length && this.state.kind !== "done") {
      const state = this.state;
      switch (state.kind) {
        case "data": {
          const take = Math.min(state.remaining, chunk.length - i);
          i += take;
          state.remaining -= take;
          if (state.remaining === 0) this.state = { kind: "data-cr" };
          break;
        }
        case "data-cr":
          if (chunk[i] !== CR) throw badChunk("missing CRLF after chunk data");
          this.state = { kind: "data-lf" };
          i++;
          break;
        case "data-lf":
          if (chunk[i] !== LF) throw badChunk("missing CRLF after chunk data");
          this.state = { kind: "size-line", line: [] };
          i++;
          break;
        case "size-line":
        case "trailer-line": {
          const byte = chunk[i]!;
          i++;
          if (byte !== LF) {
            if (state.line.length >= MAX_LINE) throw badChunk("chunk line too long");
            state.line.push(byte);
            break;
          }
          if (state.line[state.line.length - 1] !== CR) throw badChunk("chunk line ends in a bare LF");
          const line = Buffer.from(state.line.slice(0, -1)).toString("latin1");
          this.state = state.kind === "size-line" ? afterSizeLine(line) : afterTrailerLine(line);
          break;
        }
      }
    }
    return i - offset;
  }
}

function afterSizeLine(line: string): State {
  // chunk-size [ ; extensions ]: extensions are allowed and ignored, but the
  // size itself must be bare hex with no sign, space or 0x prefix.
  const semicolon = line.indexOf(";");
  const size = semicolon === -1 ? line : line.slice(0, semicolon);
  // Go refuses more than 16 digits, leading zeros included (parseHexUint).
  if (!/^[0-9A-Fa-f]{1,16}$/.test(size) || size.replace(/^0+(?=.)/, "").length > MAX_HEX_DIGITS) {
    throw badChunk(`invalid chunk size ${JSON.stringify(size)}`);
  }
  if (semicolon !== -1 && /[\r\n\0]/.test(line)) throw badChunk("invalid chunk extension");
  const length = parseInt(size, 16);
  return length === 0 ? { kind: "trailer-line", line: [] } : { kind: "data", remaining: length };
}

function afterTrailerLine(line: string): State {
  if (line.length === 0) return { kind: "done" };
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/.test(line)) throw badChunk("invalid trailer field");
  return { kind: "trailer-line", line: [] };
}

function badChunk(reason: string): RequestRefusedError {
  return new RequestRefusedError("DCP_BAD_CHUNK", `malformed chunked body: ${reason}`);
}

/** Decodes a complete chunked body (as validated by ChunkedScanner) into its content. */
export function decodeChunked(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  for (;;) {
    const lineEnd = raw.indexOf("\r\n", i);
    if (lineEnd === -1) throw badChunk("truncated body");
    const sizeText = raw.toString("latin1", i, lineEnd).split(";")[0]!;
    const size = parseInt(sizeText, 16);
    if (!Number.isFinite(size)) throw badChunk("invalid chunk size");
    i = lineEnd + 2;
    if (size === 0) return Buffer.concat(parts);
    if (i + size + 2 > raw.length) throw badChunk("truncated body");
    parts.push(raw.subarray(i, i + size));
    i += size + 2;
  }
}
