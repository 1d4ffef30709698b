import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RewriteError } from "../errors.js";
import type { JsonValue } from "./json-document.js";
import { isBlankJson, MAX_JSON_VALUES, MAX_NESTING_DEPTH, parseJson, serializeJson } from "./json-document.js";
import { fuzzParams } from "../test-fuzz.js";

const withLoneSurrogatesReplaced = (text: string): string =>
  text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");

const parse = (text: string): JsonValue => parseJson(Buffer.from(text, "utf8"));
const roundTrip = (text: string): string => serializeJson(parse(text));

function expectInvalid(input: string | Buffer): RewriteError {
  const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  let caught: unknown;
  try {
    parseJson(bytes);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(RewriteError);
  const error = caught as RewriteError;
  expect(error.code).toBe("DCP_INVALID_JSON");
  expect(error.status).toBe(400);
  return error;
}

describe("parseJson", () => {
  it("keeps object members in order, duplicates included", () => {
    expect(parse('{"b":1,"a":2,"b":3}')).toEqual({
      kind: "object",
      members: [
        ["b", { kind: "number", text: "1" }],
        ["a", { kind: "number", text: "2" }],
        ["b", { kind: "number", text: "3" }],
      ],
    });
  });

  it("keeps number literals exactly, int64 beyond 2^53 included", () => {
    for (const literal of ["9007199254740993", "-9223372036854775808", "0", "-0", "1.50", "1e400", "2E-3", "3e+7"]) {
      expect(parse(`[${literal}]`)).toEqual({ kind: "array", elements: [{ kind: "number", text: literal }] });
      expect(roundTrip(`{"Memory": ${literal}}`)).toBe(`{"Memory":${literal}}`);
    }
  });

  it.each(["01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity", "1.e3", "--1", "00"])(
    "refuses the non-JSON number %s",
    (literal) => {
      expectInvalid(`[${literal}]`);
    },
  );

  it("decodes every escape", () => {
    expect(parse(String.raw`"\" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u20AC"`)).toEqual({
      kind: "string",
      value: '" \\ / \b \f \n \r \t A é €',
    });
  });

  it("decodes escaped keys, so escapes cannot hide a field name", () => {
    expect(parse(String.raw`{"\u004cabels":{}}`)).toEqual({
      kind: "object",
      members: [["Labels", { kind: "object", members: [] }]],
    });
  });

  it("joins surrogate pairs and turns lone surrogates into U+FFFD like Go", () => {
    expect(parse(String.raw`"\ud83d\ude00"`)).toEqual({ kind: "string", value: "😀" });
    expect(parse(String.raw`"\ud800"`)).toEqual({ kind: "string", value: "\uFFFD" });
    expect(parse(String.raw`"\udc00x"`)).toEqual({ kind: "string", value: "\uFFFDx" });
    // Go reads the escape after an unpaired high surrogate on its own.
    expect(parse(String.raw`"\ud800\u0041"`)).toEqual({ kind: "string", value: "\uFFFDA" });
    expect(parse(String.raw`"\ud800\ud800\udc00"`)).toEqual({ kind: "string", value: "\uFFFD\u{10000}" });
  });

  it("decodes raw UTF-8", () => {
    expect(parse('{"ſ":"K😀"}')).toEqual({ kind: "object", members: [["ſ", { kind: "string", value: "K😀" }]] });
  });

  it("refuses invalid UTF-8, since Go would silently replace it", () => {
    expectInvalid(Buffer.from([0x22, 0xff, 0x22]));
    expectInvalid(Buffer.from([0x22, 0xc0, 0xaf, 0x22])); // overlong '/'
    expectInvalid(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22])); // encoded surrogate
  });

  it.each([
    ["trailing garbage", '{"Labels":{}} garbage'],
    ["a second value", "{} {}"],
    ["trailing comma in object", '{"a":1,}'],
    ["trailing comma in array", "[1,]"],
    ["a single-quoted string", "{'a':1}"],
    ["an unquoted key", "{a:1}"],
    ["a raw control character", '"a\tb"'],
    ["an invalid escape", String.raw`"\x41"`],
    ["a short \\u escape", String.raw`"\u41"`],
    ["an unterminated string", '"abc'],
    ["an unterminated object", '{"a":1'],
    ["nothing", ""],
    ["only whitespace", " \n"],
    ["a byte-order mark", "\uFEFF{}"],
    ["a comment", "{} // x"],
    ["a capitalised literal", "True"],
    ["a truncated literal", "nul"],
    ["non-JSON whitespace", "\u00a0{}"],
  ])("refuses %s", (_name, text) => {
    expectInvalid(text);
  });

  it("names the input in its error", () => {
    const error = expectInvalid('{"a":1} x');
    expect(error.message).toMatch(/request body/);
    expect(() => parseJson(Buffer.from("x"), "query parameter labels")).toThrow(/query parameter labels/);
  });

  it("accepts JSON whitespace around the value", () => {
    expect(roundTrip(' \t\r\n{ "a" : [ 1 , true , null ] } \n')).toBe('{"a":[1,true,null]}');
  });

  it(`accepts ${MAX_NESTING_DEPTH} levels of nesting and refuses one more`, () => {
    const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
    expect(() => parse(nested(MAX_NESTING_DEPTH))).not.toThrow();
    expectInvalid(nested(MAX_NESTING_DEPTH + 1));
    expectInvalid(`${'{"a":'.repeat(MAX_NESTING_DEPTH + 1)}1${"}".repeat(MAX_NESTING_DEPTH + 1)}`);
  });

  it(`accepts ${MAX_JSON_VALUES} values in a document and refuses one more with 413 (each costs memory to rewrite)`, () => {
    // The object itself is one value.
    const withElements = (count: number) => Buffer.from(`{"X":[${Array<string>(count).fill("0").join(",")}]}`);
    expect(() => parseJson(withElements(MAX_JSON_VALUES - 2))).not.toThrow();
    expect(() => parseJson(withElements(MAX_JSON_VALUES - 1))).toThrow(expect.objectContaining({ status: 413, code: "DCP_BODY_TOO_LARGE" }));
    // Members' values count too, at any depth.
    const members = Array.from({ length: MAX_JSON_VALUES }, (_, i) => `"k${i}":{"v":null}`).join(",");
    expect(() => parseJson(Buffer.from(`{${members}}`))).toThrow(expect.objectContaining({ code: "DCP_BODY_TOO_LARGE" }));
  });

  it("accepts exactly what JSON.parse accepts (for well-formed UTF-8 input)", () => {
    const almostJson = fc.oneof(
      fc.json(),
      fc.string(),
      fc.json().chain((json) =>
        fc.record({ at: fc.nat(json.length), text: fc.constantFrom("", ",", "]", "}", '"', "\\", "-", "0", " x", "e") }).map(
          ({ at, text }) => json.slice(0, at) + text + json.slice(at + 1),
        ),
      ),
    );
    fc.assert(
      fc.property(almostJson, (text) => {
        let expected = true;
        try {
          JSON.parse(text);
        } catch {
          expected = false;
        }
        let actual = true;
        try {
          parse(text);
        } catch (error) {
          expect(error).toBeInstanceOf(RewriteError);
          actual = false;
        }
        expect(actual).toBe(expected);
      }),
      fuzzParams(2000),
    );
  });

  it("prints a document JSON.parse reads as the same value", () => {
    fc.assert(
      fc.property(fc.json({ depthSize: "medium" }), (text) => {
        const printed = roundTrip(text);
        expect(JSON.parse(printed)).toEqual(JSON.parse(text));
        // Canonical: printing is a fixed point.
        expect(roundTrip(printed)).toBe(printed);
      }),
      fuzzParams(1000),
    );
  });

  it("prints strings with any code points so that they decode to the same text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (value) => {
        const printed = serializeJson({ kind: "string", value });
        const reparsed = parse(printed);
        // Lone surrogates cannot be carried by UTF-8; JSON.stringify escapes them and Go reads U+FFFD.
        expect(reparsed).toEqual({ kind: "string", value: withLoneSurrogatesReplaced(value) });
      }),
      fuzzParams(1000),
    );
  });

  it("parses and prints a 1 MB body quickly", () => {
    const container = {
      Image: "alpine",
      Env: Array.from({ length: 2000 }, (_, i) => `VARIABLE_${i}=${"x".repeat(200)}\u00e9`),
      Labels: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`label.${i}`, `value \"${i}\"`])),
      HostConfig: { Memory: 1, Binds: Array.from({ length: 1000 }, (_, i) => `/a/${i}:/b/${i}`) },
    };
    const text = JSON.stringify(container, null, 1).replace('"Memory": 1', '"Memory": 9007199254740993');
    expect(text.length).toBeGreaterThan(500_000);
    const body = Buffer.from(text.padEnd(1_000_000, " "), "utf8");
    const started = performance.now();
    const printed = serializeJson(parseJson(body));
    const elapsed = performance.now() - started;
    expect(printed).toContain('"Memory":9007199254740993');
    expect(JSON.parse(printed.replace("9007199254740993", "1"))).toEqual(container);
    expect(elapsed).toBeLessThan(1000);
  });
});

describe("isBlankJson", () => {
  it("is true only for empty input or JSON whitespace", () => {
    expect(isBlankJson(Buffer.alloc(0))).toBe(true);
    expect(isBlankJson(Buffer.from(" \t\r\n"))).toBe(true);
    expect(isBlankJson(Buffer.from(" {}"))).toBe(false);
    expect(isBlankJson(Buffer.from("\u00a0"))).toBe(false);
  });
});
