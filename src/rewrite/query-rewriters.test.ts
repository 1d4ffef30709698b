import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Injected } from "./injected.js";
import { isImageImport, rewriteBuildQuery, rewriteCommitQuery, rewriteImportQuery } from "./query-rewriters.js";
import { refusal } from "./test-support.js";
import { fuzzParams } from "../test-fuzz.js";

// Reference: Go's url.ParseQuery, written independently (decodeURIComponent on
// '+'-replaced text; the generators below only produce UTF-8 escapes).
function goParseQuery(query: string): { values: Map<string, string[]>; error: boolean } {
  const values = new Map<string, string[]>();
  let error = false;
  for (const pair of query.split("&")) {
    if (pair.includes(";")) {
      error = true;
      continue;
    }
    if (pair === "") continue;
    const equals = pair.indexOf("=");
    const [rawKey, rawValue] = equals < 0 ? [pair, ""] : [pair.slice(0, equals), pair.slice(equals + 1)];
    try {
      const key = decodeURIComponent(rawKey.replace(/\+/g, " "));
      const value = decodeURIComponent(rawValue.replace(/\+/g, " "));
      values.set(key, [...(values.get(key) ?? []), value]);
    } catch {
      error = true;
    }
  }
  return { values, error };
}

const formValue = (query: string, name: string): string => goParseQuery(query).values.get(name)?.[0] ?? "";

/** How the daemon reads /build's labels: FormValue, then json.Unmarshal into map[string]string (last duplicate wins). */
function daemonBuildLabels(query: string): Record<string, string> {
  const text = formValue(query, "labels");
  return text === "" ? {} : ((JSON.parse(text) as Record<string, string> | null) ?? {});
}

const injected: Injected = { labels: new Map([["ci.job", "42"]]) };
const withCgroup: Injected = { labels: new Map([["ci.job", "42"]]), cgroupParent: "/ci/agent 1" };
const encoded = (json: string) => encodeURIComponent(json);


describe("rewriteBuildQuery", () => {
  it("adds labels when there are none", () => {
    expect(rewriteBuildQuery("t=web&q=1", injected)).toBe(`t=web&q=1&labels=${encoded('{"ci.job":"42"}')}&forcerm=1`);
    expect(rewriteBuildQuery("", injected)).toBe(`labels=${encoded('{"ci.job":"42"}')}&forcerm=1`);
  });

  it("merges into the FIRST labels value, as FormValue reads it, and removes the others", () => {
    const query = `labels=${encoded('{"a":"1","ci.job":"x"}')}&t=web&labels=${encoded('{"b":"2"}')}`;
    const output = rewriteBuildQuery(query, injected);
    expect(output).toBe(`t=web&labels=${encoded('{"a":"1","ci.job":"42"}')}&forcerm=1`);
    expect(daemonBuildLabels(output)).toEqual({ a: "1", "ci.job": "42" });
  });

  it("matches encoded spellings of the key", () => {
    const output = rewriteBuildQuery(`%6Cabels=${encoded('{"a":"1"}')}&label%73=${encoded('{"b":"2"}')}`, injected);
    expect(output).toBe(`labels=${encoded('{"a":"1","ci.job":"42"}')}&forcerm=1`);
  });

  it("leaves keys of another case alone (form keys are case-sensitive)", () => {
    const output = rewriteBuildQuery("Labels=%7B%7D", injected);
    expect(output).toBe(`Labels=%7B%7D&labels=${encoded('{"ci.job":"42"}')}&forcerm=1`);
  });

  it("treats an empty first labels value as none, even with a later one", () => {
    expect(rewriteBuildQuery(`labels=&labels=${encoded('{"b":"2"}')}`, injected)).toBe(`labels=${encoded('{"ci.job":"42"}')}&forcerm=1`);
  });

  it("reads labels=null as none and a duplicate key inside as last-wins", () => {
    expect(rewriteBuildQuery("labels=null", injected)).toBe(`labels=${encoded('{"ci.job":"42"}')}&forcerm=1`);
    expect(rewriteBuildQuery(`labels=${encoded('{"a":"1","a":"2"}')}`, injected)).toBe(
      `labels=${encoded('{"a":"2","ci.job":"42"}')}&forcerm=1`,
    );
  });

  it("decodes '+' as a space in the labels value", () => {
    expect(rewriteBuildQuery("labels=%7B%22a+b%22:%22c+d%22%7D", injected)).toBe(
      `labels=${encoded('{"a b":"c d","ci.job":"42"}')}&forcerm=1`,
    );
  });

  it("replaces every cgroupparent when one is injected", () => {
    const output = rewriteBuildQuery("cgroupparent=%2Fevil&t=x&cgroupparent=&cgroupParent=kept", withCgroup);
    expect(output).toBe(`t=x&cgroupParent=kept&labels=${encoded('{"ci.job":"42"}')}&forcerm=1&cgroupparent=%2Fci%2Fagent%201`);
    expect(formValue(output, "cgroupparent")).toBe("/ci/agent 1");
  });

  it("writes forcerm=1 as the only forcerm, whatever the client asked (intermediate containers carry no labels)", () => {
    const output = rewriteBuildQuery("forcerm=0&rm=0&t=x&forc%65rm=false&forcerm=1", injected);
    expect(output).toBe(`rm=0&t=x&labels=${encoded('{"ci.job":"42"}')}&forcerm=1`);
    expect(goParseQuery(output).values.get("forcerm")).toEqual(["1"]);
  });

  it("leaves cgroupparent alone when none is injected", () => {
    expect(rewriteBuildQuery("cgroupparent=%2Fmine", injected)).toBe(`cgroupparent=%2Fmine&labels=${encoded('{"ci.job":"42"}')}&forcerm=1`);
  });

  it.each([
    ["invalid JSON", `labels=${encoded('{"a":')}`, "DCP_INVALID_JSON"],
    ["trailing data", `labels=${encoded("{} x")}`, "DCP_INVALID_JSON"],
    ["a blank value", "labels=+", "DCP_INVALID_JSON"],
    ["a non-object", `labels=${encoded('["a"]')}`, "DCP_INVALID_LABELS"],
    ["a non-string label", `labels=${encoded('{"a":1}')}`, "DCP_INVALID_LABELS"],
    ["a null label", `labels=${encoded('{"a":null}')}`, "DCP_INVALID_LABELS"],
    ["invalid UTF-8", "labels=%7B%22%FF%22:%22%22%7D", "DCP_INVALID_JSON"],
    ["a semicolon anywhere", "t=a;b&labels=%7B%7D", "DCP_BAD_QUERY"],
    ["a bad escape anywhere", "t=%zz", "DCP_BAD_QUERY"],
  ])("refuses %s", (_name, query, code) => {
    const error = refusal(() => rewriteBuildQuery(query, injected));
    expect(error.code).toBe(code);
    expect(error.status).toBe(400);
  });

  it("survives adversarial queries: the daemon reads the client's first labels plus ours", () => {
    const labelKey = fc.constantFrom("a", "A", "b", "ci.job", "x y", "é", "&", "=", "+");
    const labelObject = fc
      .array(fc.tuple(labelKey, fc.constantFrom("", "1", "a+b", "ü", "%41")), { maxLength: 3 })
      .map((entries) => `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(",")}}`);
    const formEncode = (text: string) => encodeURIComponent(text).replace(/%20/g, "+");
    const labelsPair = fc
      .tuple(
        fc.constantFrom("labels", "label%73", "%6Cabels", "%6cabels"),
        fc.oneof(labelObject.map(encodeURIComponent), labelObject.map(formEncode), fc.constantFrom("", "null")),
      )
      .map(([key, value]) => `${key}=${value}`);
    const otherPair = fc.constantFrom("t=web%3Alatest", "q=a+b", "", "flag", "=x", "Labels=%7B%7D", "labels%20=1", "cgroupParent=%2Fx");
    const cgroupPair = fc.constantFrom("cgroupparent=%2Fevil", "cgroupparent=", "cgroup%70arent=x", "forcerm=0", "forc%65rm=", "rm=0");
    const query = fc.array(fc.oneof(labelsPair, otherPair, cgroupPair), { maxLength: 6 }).map((pairs) => pairs.join("&"));
    const injectedArbitrary = fc.record(
      {
        labels: fc.array(fc.tuple(labelKey, fc.constantFrom("42", "", "ü")), { maxLength: 2 }).map((entries) => new Map(entries)),
        cgroupParent: fc.constantFrom("/ci", "agent.slice"),
      },
      { requiredKeys: ["labels"] },
    );
    let rewritten = 0;
    fc.assert(
      fc.property(query, injectedArbitrary, (input, inject) => {
        const output = rewriteBuildQuery(input, inject);
        rewritten++;
        const parsed = goParseQuery(output);
        expect(parsed.error).toBe(false);
        expect(parsed.values.get("labels")).toHaveLength(1);
        expect(daemonBuildLabels(output)).toEqual({ ...daemonBuildLabels(input), ...Object.fromEntries(inject.labels) });
        if (inject.cgroupParent !== undefined) expect(parsed.values.get("cgroupparent")).toEqual([inject.cgroupParent]);
        expect(parsed.values.get("forcerm")).toEqual(["1"]);
        // Every other pair is forwarded byte for byte, in order.
        const owned = inject.cgroupParent === undefined ? ["labels", "forcerm"] : ["labels", "forcerm", "cgroupparent"];
        const notOwned = (pair: string) => !owned.includes(decodeURIComponent(pair.split("=")[0]?.replace(/\+/g, " ") ?? ""));
        const appendedCount = owned.length;
        const outputPairs = output.split("&");
        expect(outputPairs.slice(0, outputPairs.length - appendedCount)).toEqual(input === "" ? [] : input.split("&").filter(notOwned));
        // Canonical: a second pass changes nothing.
        expect(rewriteBuildQuery(output, inject)).toBe(output);
      }),
      fuzzParams(1500),
    );
    expect(rewritten).toBe(1500);
  });
});

describe("isImageImport", () => {
  it.each([
    ["fromSrc=-&repo=x", true],
    ["fromImage=&fromSrc=-", true],
    ["", true],
    ["fromImage=alpine&tag=3", false],
    ["fromImage=&fromImage=alpine", true], // the first value decides
    ["fromImage=alpine&fromImage=", false],
    ["from%49mage=alpine", false],
    ["FromImage=alpine", true],
  ])("%j is an import: %s", (query, expected) => {
    expect(isImageImport(query)).toBe(expected);
  });

  it("refuses a query it cannot read with certainty", () => {
    expect(refusal(() => isImageImport("fromImage=alpine;x")).code).toBe("DCP_BAD_QUERY");
  });
});

describe.each([
  ["rewriteImportQuery", rewriteImportQuery],
  ["rewriteCommitQuery", rewriteCommitQuery],
])("%s", (_name, rewrite) => {
  const labels: Injected = { labels: new Map([["ci.job", "42"], ["ci.note", 'say "hi" $USER \\o/']]) };

  it("appends one LABEL change per injected label after the client's changes", () => {
    const output = rewrite("fromSrc=-&changes=LABEL+ci.job%3Dforged&repo=x&changes=ENV+A%3D1", labels);
    expect(output.startsWith("fromSrc=-&changes=LABEL+ci.job%3Dforged&repo=x&changes=ENV+A%3D1&")).toBe(true);
    expect(goParseQuery(output).values.get("changes")).toEqual([
      "LABEL ci.job=forged",
      "ENV A=1",
      'LABEL "ci.job"="42"',
      'LABEL "ci.note"="say \\"hi\\" \\$USER \\\\o/"',
    ]);
  });

  it("works on an empty query", () => {
    expect(rewrite("", injected)).toBe(`changes=${encodeURIComponent('LABEL "ci.job"="42"')}`);
  });

  it.each([
    ["a continuation into our line", "changes=LABEL+a%3Db+%5C"],
    ["a multi-line change", "changes=LABEL+a%3Db%0ALABEL+c%3Dd"],
    ["an escape directive", "changes=%23+escape%3D%60"],
    ["a heredoc", "changes=ONBUILD+RUN+%3C%3CEOF"],
    ["a semicolon", "changes=LABEL+a%3Db;x"],
  ])("refuses %s", (_name, query) => {
    expect(refusal(() => rewrite(query, injected)).code).toBe("DCP_BAD_QUERY");
  });

  it("refuses an injected label with a line break", () => {
    const error = refusal(() => rewrite("", { labels: new Map([["k", "a\nLABEL x=y"]]) }));
    expect(error.code).toBe("DCP_INVALID_LABELS");
  });
});
