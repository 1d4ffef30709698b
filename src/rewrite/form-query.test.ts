import { describe, expect, it } from "vitest";
import { allQueryValues, encodeQueryPair, firstQueryValue, pairHasKey, parseQueryPairs } from "./form-query.js";
import { refusal } from "./test-support.js";

const values = (query: string, name: string) => allQueryValues(parseQueryPairs(query), name).map((value) => value.toString("utf8"));


describe("parseQueryPairs", () => {
  it("keeps each pair's raw text and decodes key and value like url.QueryUnescape", () => {
    const pairs = parseQueryPairs("a=1&b=x+y%2Bz&&flag&=v&%6Cabels=%7B%7D");
    expect(pairs.map((pair) => pair.raw)).toEqual(["a=1", "b=x+y%2Bz", "", "flag", "=v", "%6Cabels=%7B%7D"]);
    expect(pairs[1]?.decoded?.value.toString()).toBe("x y+z");
    expect(pairs[2]?.decoded).toBeUndefined(); // Go skips empty pairs
    expect(pairs[3]?.decoded?.value.length).toBe(0);
    expect(pairs[4]?.decoded?.key.length).toBe(0);
    expect(pairs[5] !== undefined && pairHasKey(pairs[5], "labels")).toBe(true);
  });

  it("cuts a pair at its first '='", () => {
    expect(values("labels=a=b", "labels")).toEqual(["a=b"]);
  });

  it("compares keys exactly (form keys are case-sensitive)", () => {
    expect(values("Labels=1&labels=2&LABELS=3&labels+=4", "labels")).toEqual(["2"]);
  });

  it("gives the first value the way FormValue does, and all of them for changes", () => {
    const pairs = parseQueryPairs("changes=A&x=1&changes=B&fromImage=&fromImage=alpine");
    expect(firstQueryValue(pairs, "fromImage")?.length).toBe(0);
    expect(firstQueryValue(pairs, "missing")).toBeUndefined();
    expect(values("changes=A&x=1&changes=B", "changes")).toEqual(["A", "B"]);
  });

  it("decodes to bytes, so non-UTF-8 escapes survive", () => {
    expect(firstQueryValue(parseQueryPairs("v=%FF%fe"), "v")).toEqual(Buffer.from([0xff, 0xfe]));
  });

  it("is empty for an empty query", () => {
    expect(parseQueryPairs("")).toEqual([]);
  });

  it.each([
    ["a semicolon (old Go split on it, new Go drops the pair)", "a=1;labels={}"],
    ["a semicolon in a value", "labels=%7B%7D&x=a;b"],
    ["a truncated escape", "labels=%7"],
    ["a non-hex escape", "x=%zz"],
    ["an escape in a key", "%g1=1"],
    ["a raw space", "a=b c"],
    ["a raw non-ASCII character", "a=é"],
    ["a control character", "a=\u0001"],
  ])("refuses %s", (_name, query) => {
    const error = refusal(() => parseQueryPairs(query));
    expect(error.code).toBe("DCP_BAD_QUERY");
    expect(error.status).toBe(400);
  });

  it("keeps refusal messages short", () => {
    const error = refusal(() => parseQueryPairs(`x=${"a".repeat(10_000)};`));
    expect(error.message.length).toBeLessThan(200);
  });
});

describe("encodeQueryPair", () => {
  it("percent-encodes so that Go decodes the same text", () => {
    const pair = encodeQueryPair("labels", '{"a b":"+&=;%é"}');
    expect(pair).not.toMatch(/[;& +]|=.*=/);
    expect(firstQueryValue(parseQueryPairs(pair), "labels")?.toString("utf8")).toBe('{"a b":"+&=;%é"}');
  });
});
