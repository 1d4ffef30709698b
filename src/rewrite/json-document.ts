/**
 * A strict RFC 8259 JSON reader and a canonical printer.
 *
 * The proxy never forwards the client's JSON bytes: it parses them into this
 * AST, edits the AST, and prints the whole document again. The AST therefore
 * keeps everything Go's encoding/json could act on:
 * - object members in order, duplicates included (Go applies every one of
 *   them in turn: a later key wins, objects merge, null resets);
 * - number literals as their source text (Go reads int64 fields exactly;
 *   a JavaScript number would round 9007199254740993);
 * - strings decoded, so keys can be matched the way Go matches them.
 *
 * Anything outside the grammar is refused rather than guessed at.
 */
import { isUtf8 } from "node:buffer";
import { RewriteError } from "../errors.js";

export type JsonValue = JsonObject | JsonArray | JsonString | JsonNumber | JsonBoolean | JsonNull;

/** One object member; `key` is the decoded key. */
export type JsonMember = readonly [key: string, value: JsonValue];

export interface JsonObject {
  readonly kind: "object";
  readonly members: readonly JsonMember[];
}
export interface JsonArray {
  readonly kind: "array";
  readonly elements: readonly JsonValue[];
}
export interface JsonString {
  readonly kind: "string";
  readonly value: string;
}
export interface JsonNumber {
  readonly kind: "number";
  /** The literal exactly as the client wrote it (already checked against the JSON number grammar). */
  readonly text: string;
}
export interface JsonBoolean {
  readonly kind: "boolean";
  readonly value: boolean;
}
export interface JsonNull {
  readonly kind: "null";
}

/**
 * Deepest nesting of arrays and objects accepted. Go allows 10000; no Docker
 * API body comes near 512, and a shallow limit keeps our recursion safe.
 */
export const MAX_NESTING_DEPTH = 512;

/**
 * Most values (of any kind, at any depth) in one document. Each costs the
 * proxy about a hundred bytes and a few microseconds to parse and print:
 * 16 MiB of `[0,0,0,…]` took 1.6 GB and stalled every connection for
 * 9–15 s (an audit). The largest real bodies (a create with 2,000 `Env`
 * entries and 500 labels) have a few thousand.
 */
export const MAX_JSON_VALUES = 100_000;

export const jsonNull: JsonNull = { kind: "null" };

export function jsonString(value: string): JsonString {
  return { kind: "string", value };
}

export function jsonObject(members: readonly JsonMember[]): JsonObject {
  return { kind: "object", members };
}

/** A JSON object of string values, in the map's order. */
export function jsonStringMap(entries: ReadonlyMap<string, string>): JsonObject {
  return jsonObject([...entries].map(([key, value]): JsonMember => [key, jsonString(value)]));
}

/**
 * Parses one JSON document. Only JSON whitespace may follow the value: dockerd
 * 20.10 ignores trailing bytes while newer daemons reject them, so a body with
 * trailing bytes means different things to different daemons.
 *
 * @param description names the input in error messages ("request body", "query parameter labels").
 */
export function parseJson(bytes: Buffer, description = "request body"): JsonValue {
  // Go's decoder replaces invalid UTF-8 with U+FFFD; refusing is simpler than
  // reproducing that, and no honest client sends it.
  if (!isUtf8(bytes)) {
    throw invalidJson(description, "it is not valid UTF-8");
  }
  return new JsonParser(bytes, description).parseDocument();
}

/** True when the bytes are empty or only JSON whitespace. */
export function isBlankJson(bytes: Buffer): boolean {
  for (const byte of bytes) {
    if (!isJsonWhitespace(byte)) return false;
  }
  return true;
}

/** Prints compact JSON: strings escaped by JSON.stringify, numbers exactly as parsed. */
export function serializeJson(value: JsonValue): string {
  const out: string[] = [];
  printValue(value, out);
  return out.join("");
}

function printValue(value: JsonValue, out: string[]): void {
  switch (value.kind) {
    case "object": {
      out.push("{");
      let first = true;
      for (const [key, member] of value.members) {
        if (!first) out.push(",");
        first = false;
        out.push(JSON.stringify(key), ":");
        printValue(member, out);
      }
      out.push("}");
      return;
    }
    case "array": {
      out.push("[");
      let first = true;
      for (const element of value.elements) {
        if (!first) out.push(",");
        first = false;
        printValue(element, out);
      }
      out.push("]");
      return;
    }
    case "string":
      out.push(JSON.stringify(value.value));
      return;
    case "number":
      out.push(value.text);
      return;
    case "boolean":
      out.push(value.value ? "true" : "false");
      return;
    case "null":
      out.push("null");
      return;
  }
}

const enum Byte {
  Tab = 0x09,
  LineFeed = 0x0a,
  CarriageReturn = 0x0d,
  Space = 0x20,
  Quote = 0x22,
  Plus = 0x2b,
  Comma = 0x2c,
  Minus = 0x2d,
  Dot = 0x2e,
  Slash = 0x2f,
  Zero = 0x30,
  One = 0x31,
  Nine = 0x39,
  Colon = 0x3a,
  UpperE = 0x45,
  OpenBracket = 0x5b,
  Backslash = 0x5c,
  CloseBracket = 0x5d,
  LowerB = 0x62,
  LowerE = 0x65,
  LowerF = 0x66,
  LowerN = 0x6e,
  LowerR = 0x72,
  LowerT = 0x74,
  LowerU = 0x75,
  OpenBrace = 0x7b,
  CloseBrace = 0x7d,
}

const END = -1;
const REPLACEMENT_CHARACTER = "\uFFFD";

function isJsonWhitespace(byte: number): boolean {
  return byte === Byte.Space || byte === Byte.LineFeed || byte === Byte.CarriageReturn || byte === Byte.Tab;
}

function isDigit(byte: number): boolean {
  return byte >= Byte.Zero && byte <= Byte.Nine;
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  return -1;
}

function invalidJson(description: string, reason: string): RewriteError {
  return new RewriteError("DCP_INVALID_JSON", `invalid JSON in ${description}: ${reason}`);
}

class JsonParser {
  private position = 0;
  private depth = 0;
  private values = 0;

  constructor(
    private readonly bytes: Buffer,
    private readonly description: string,
  ) {}

  parseDocument(): JsonValue {
    this.skipWhitespace();
    const value = this.parseValue();
    this.skipWhitespace();
    if (this.position !== this.bytes.length) {
      throw this.fail("unexpected data after the JSON value");
    }
    return value;
  }

  private peek(): number {
    const byte = this.bytes[this.position];
    return byte === undefined ? END : byte;
  }

  private fail(reason: string): RewriteError {
    return invalidJson(this.description, `${reason} at byte ${this.position}`);
  }

  private skipWhitespace(): void {
    while (isJsonWhitespace(this.peek())) this.position++;
  }

  private expect(byte: number, what: string): void {
    if (this.peek() !== byte) throw this.fail(`expected ${what}`);
    this.position++;
  }

  private parseValue(): JsonValue {
    if (++this.values > MAX_JSON_VALUES) {
      throw new RewriteError("DCP_BODY_TOO_LARGE", `${this.description} has more than ${MAX_JSON_VALUES} JSON values, the most the proxy rewrites`, 413);
    }
    switch (this.peek()) {
      case Byte.OpenBrace:
        return this.parseObject();
      case Byte.OpenBracket:
        return this.parseArray();
      case Byte.Quote:
        return jsonString(this.parseString());
      case Byte.LowerT:
        this.parseLiteral("true");
        return { kind: "boolean", value: true };
      case Byte.LowerF:
        this.parseLiteral("false");
        return { kind: "boolean", value: false };
      case Byte.LowerN:
        this.parseLiteral("null");
        return jsonNull;
      case END:
        throw this.fail("unexpected end of input");
      default:
        return this.parseNumber();
    }
  }

  private enterContainer(): void {
    this.depth++;
    if (this.depth > MAX_NESTING_DEPTH) {
      throw this.fail(`nesting deeper than ${MAX_NESTING_DEPTH} levels`);
    }
  }

  private parseObject(): JsonObject {
    this.enterContainer();
    this.position++; // {
    const members: JsonMember[] = [];
    this.skipWhitespace();
    if (this.peek() === Byte.CloseBrace) {
      this.position++;
      this.depth--;
      return jsonObject(members);
    }
    for (;;) {
      this.skipWhitespace();
      if (this.peek() !== Byte.Quote) throw this.fail("expected a string key");
      const key = this.parseString();
      this.skipWhitespace();
      this.expect(Byte.Colon, "':' after an object key");
      this.skipWhitespace();
      members.push([key, this.parseValue()]);
      this.skipWhitespace();
      const next = this.peek();
      this.position++;
      if (next === Byte.Comma) continue;
      if (next === Byte.CloseBrace) break;
      this.position--;
      throw this.fail("expected ',' or '}' in an object");
    }
    this.depth--;
    return jsonObject(members);
  }

  private parseArray(): JsonArray {
    this.enterContainer();
    this.position++; // [
    const elements: JsonValue[] = [];
    this.skipWhitespace();
    if (this.peek() === Byte.CloseBracket) {
      this.position++;
      this.depth--;
      return { kind: "array", elements };
    }
    for (;;) {
      this.skipWhitespace();
      elements.push(this.parseValue());
      this.skipWhitespace();
      const next = this.peek();
      this.position++;
      if (next === Byte.Comma) continue;
      if (next === Byte.CloseBracket) break;
      this.position--;
      throw this.fail("expected ',' or ']' in an array");
    }
    this.depth--;
    return { kind: "array", elements };
  }

  private parseLiteral(literal: "true" | "false" | "null"): void {
    for (let i = 0; i < literal.length; i++) {
      if (this.peek() !== literal.charCodeAt(i)) throw this.fail("invalid literal");
      this.position++;
    }
  }

  /** Validates the RFC 8259 number grammar and keeps the literal's text. */
  private parseNumber(): JsonNumber {
    const start = this.position;
    if (this.peek() === Byte.Minus) this.position++;
    const firstDigit = this.peek();
    if (firstDigit === Byte.Zero) {
      this.position++;
    } else if (firstDigit >= Byte.One && firstDigit <= Byte.Nine) {
      this.skipDigits();
    } else {
      throw this.fail("expected a value");
    }
    if (this.peek() === Byte.Dot) {
      this.position++;
      if (!isDigit(this.peek())) throw this.fail("expected a digit after the decimal point");
      this.skipDigits();
    }
    const exponent = this.peek();
    if (exponent === Byte.LowerE || exponent === Byte.UpperE) {
      this.position++;
      const sign = this.peek();
      if (sign === Byte.Plus || sign === Byte.Minus) this.position++;
      if (!isDigit(this.peek())) throw this.fail("expected a digit in the exponent");
      this.skipDigits();
    }
    return { kind: "number", text: this.bytes.toString("latin1", start, this.position) };
  }

  private skipDigits(): void {
    while (isDigit(this.peek())) this.position++;
  }

  /**
   * Decodes a string starting at its opening quote. The whole input was
   * checked to be UTF-8 up front, and the runs decoded here are cut only at
   * ASCII bytes, so each run is valid UTF-8 on its own.
   */
  private parseString(): string {
    const bytes = this.bytes;
    this.position++; // opening quote
    let runStart = this.position;
    let pieces: string[] | undefined;
    for (;;) {
      const byte = this.peek();
      if (byte === Byte.Quote) {
        const run = bytes.toString("utf8", runStart, this.position);
        this.position++;
        if (pieces === undefined) return run;
        pieces.push(run);
        return pieces.join("");
      }
      if (byte === Byte.Backslash) {
        pieces ??= [];
        pieces.push(bytes.toString("utf8", runStart, this.position));
        pieces.push(this.parseEscape());
        runStart = this.position;
        continue;
      }
      if (byte === END) throw this.fail("unterminated string");
      if (byte < Byte.Space) throw this.fail("control character in a string");
      this.position++;
    }
  }

  private parseEscape(): string {
    this.position++; // backslash
    const byte = this.peek();
    this.position++;
    switch (byte) {
      case Byte.Quote:
        return '"';
      case Byte.Backslash:
        return "\\";
      case Byte.Slash:
        return "/";
      case Byte.LowerB:
        return "\b";
      case Byte.LowerF:
        return "\f";
      case Byte.LowerN:
        return "\n";
      case Byte.LowerR:
        return "\r";
      case Byte.LowerT:
        return "\t";
      case Byte.LowerU:
        return this.parseUnicodeEscape();
      default:
        this.position--;
        throw this.fail("invalid escape in a string");
    }
  }

  /**
   * `\uXXXX`, after the `\u`. Surrogates follow Go's unquote: a high surrogate
   * immediately followed by a `\u` low surrogate is one character; any other
   * surrogate becomes U+FFFD and a following escape is read on its own.
   */
  private parseUnicodeEscape(): string {
    const unit = this.readHex4();
    if (unit < 0xd800 || unit > 0xdfff) return String.fromCharCode(unit);
    if (unit <= 0xdbff && this.peek() === Byte.Backslash && this.bytes[this.position + 1] === Byte.LowerU) {
      const save = this.position;
      this.position += 2;
      const low = this.readHex4();
      if (low >= 0xdc00 && low <= 0xdfff) return String.fromCharCode(unit, low);
      this.position = save;
    }
    return REPLACEMENT_CHARACTER;
  }

  private readHex4(): number {
    let value = 0;
    for (let i = 0; i < 4; i++) {
      const digit = hexValue(this.peek());
      if (digit < 0) throw this.fail("invalid \\u escape in a string");
      value = value * 16 + digit;
      this.position++;
    }
    return value;
  }
}
