/**
 * Strict HTTP/1.1 message-head parsing, shared by requests and responses.
 *
 * The proxy must read a head exactly as dockerd will, or a client could make
 * the two disagree about where a request ends (request smuggling). So this
 * parser accepts the plain RFC 9112 grammar only and refuses everything a
 * lenient parser might read differently: bare LF line endings, obs-fold
 * continuation lines, whitespace before the colon, control bytes in values.
 */
import { RequestRefusedError } from "../errors.js";

/** Header fields in wire order; names as sent, values trimmed of optional whitespace. */
export type HeaderFields = ReadonlyArray<readonly [name: string, value: string]>;

const CR = 0x0d;
const LF = 0x0a;
const HEAD_TERMINATOR = Buffer.from("\r\n\r\n");

/** RFC 9110 token characters, used for methods and field names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: visible ASCII, obs-text, space and tab; never CR, LF or NUL. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Where the head in `buffer` ends (index just past the blank line), or -1 when
 * more bytes are needed. Throws when a line ends in a bare LF.
 */
export function findHeadEnd(buffer: Buffer, from = 0): number {
  const end = buffer.indexOf(HEAD_TERMINATOR, from);
  const limit = end === -1 ? buffer.length : end;
  // A bare LF would end a line for Go's textproto but not for us: refuse it.
  let lf = buffer.indexOf(LF, from);
  while (lf !== -1 && lf < limit) {
    if (lf === 0 || buffer[lf - 1] !== CR) {
      throw new RequestRefusedError("DCP_BAD_REQUEST", "malformed HTTP request: line ends in a bare LF");
    }
    lf = buffer.indexOf(LF, lf + 1);
  }
  return end === -1 ? -1 : end + HEAD_TERMINATOR.length;
}

/** Splits a head (without its terminating blank line) into the start line and header fields. */
export function parseHeadLines(head: string): { startLine: string; fields: HeaderFields } {
  const lines = head.split("\r\n");
  const startLine = lines[0] ?? "";
  const fields: Array<readonly [string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length === 0) continue; // the blank line itself
    if (line.charCodeAt(0) === 0x20 || line.charCodeAt(0) === 0x09) {
      throw new RequestRefusedError("DCP_BAD_REQUEST", "malformed HTTP request: obsolete line folding in headers");
    }
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new RequestRefusedError("DCP_BAD_REQUEST", "malformed HTTP request: header line without a name");
    }
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) {
      throw new RequestRefusedError("DCP_BAD_REQUEST", `malformed HTTP request: invalid header name ${JSON.stringify(name)}`);
    }
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!FIELD_VALUE.test(value)) {
      throw new RequestRefusedError("DCP_BAD_REQUEST", `malformed HTTP request: invalid value in header ${name}`);
    }
    fields.push([name, value]);
  }
  return { startLine, fields };
}

export function isToken(value: string): boolean {
  return TOKEN.test(value);
}

/** All values of a header (case-insensitive name), in wire order. */
export function headerValues(fields: HeaderFields, lowerName: string): string[] {
  const values: string[] = [];
  for (const [name, value] of fields) {
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) values.push(value);
  }
  return values;
}

/** Comma-separated tokens of a list header such as Connection or Transfer-Encoding, lower-cased. */
export function headerTokens(fields: HeaderFields, lowerName: string): string[] {
  return headerValues(fields, lowerName).flatMap(listTokens);
}

/** The tokens of one comma-separated list value, lower-cased, empty ones left out. */
export function listTokens(value: string): string[] {
  const tokens: string[] = [];
  for (const part of value.split(",")) {
    const token = part.trim().toLowerCase();
    if (token.length > 0) tokens.push(token);
  }
  return tokens;
}
