// fast-check generators of JSON bodies as Go's encoding/json will read them,
// each carrying a model of its meaning (which keys Go binds to which field,
// and the labels it ends up with), so a test can compare what the daemon made
// with what it was asked for.
//
// Go binds an object key to a struct field when it equals the field name
// under simple case folding: ASCII case, `ſ` (U+017F) for s, the Kelvin sign
// `K` (U+212A) for k; escapes (`\u0062`) are decoded first. Everything else
// (`ı`/`İ` for i, look-alikes, a missing or extra character) binds nothing.
// In a repeated field the later member is applied after the earlier one: for
// a map, an object merges into what is there and null resets it.
import fc from "fast-check";

/** An object key as sent, and whether Go binds it to the field it was made from. */
export interface Spelling {
  /** The JSON string literal, quotes included. */
  literal: string;
  binds: boolean;
}

export const whitespace: fc.Arbitrary<string> = fc.constantFrom("", "", " ", "\n", "\t", "\r\n  ");

function hex4(code: number, upper: boolean): string {
  const text = code.toString(16).padStart(4, "0");
  return upper ? text.toUpperCase() : text;
}

/**
 * A JSON string literal that decodes to `text`, each character written as
 * itself or (one time in six) as a \u escape, in either hex case. Quotes, backslashes and
 * control characters are always escaped.
 */
export function stringLiteral(text: string): fc.Arbitrary<string> {
  const characters = [...text];
  if (characters.length === 0) return fc.constant('""');
  return fc
    .tuple(...characters.map(() => fc.tuple(fc.nat(5), fc.boolean())))
    .map((choices) => {
      let out = '"';
      characters.forEach((character, index) => {
        const [how, upper] = choices[index]!;
        const code = character.codePointAt(0)!;
        const mustEscape = character === '"' || character === "\\" || code < 0x20;
        // 0 (what fast-check shrinks towards) keeps the character as it is, so counterexamples stay readable.
        if (mustEscape || how === 5) {
          if (code > 0xffff) {
            const high = 0xd800 + ((code - 0x10000) >> 10);
            const low = 0xdc00 + ((code - 0x10000) & 0x3ff);
            out += `\\u${hex4(high, upper)}\\u${hex4(low, upper)}`;
          } else {
            out += `\\u${hex4(code, upper)}`;
          }
        } else {
          out += character;
        }
      });
      return `${out}"`;
    });
}

/** Spellings of an ASCII field name that Go binds to it. */
export function bindingName(field: string): fc.Arbitrary<string> {
  const options = [...field].map((character) => {
    const lower = character.toLowerCase();
    const upper = character.toUpperCase();
    const variants = new Set([character, lower, upper]);
    if (lower === "s") variants.add("\u017f");
    if (lower === "k") variants.add("\u212a");
    // The name as written is the most likely pick, so most spellings stay readable.
    return fc.oneof({ arbitrary: fc.constant(character), weight: 3 }, { arbitrary: fc.constantFrom(...variants), weight: 2 });
  });
  return fc.tuple(...options).map((characters) => characters.join(""));
}

const LOOK_ALIKES: Record<string, string> = { a: "\u0430", e: "\u0435", o: "\u043e", c: "\u0441", i: "\u0131", I: "\u0130", p: "\u0440" };

/** Spellings that look like the field name but that Go binds to nothing. */
export function nonBindingName(field: string): fc.Arbitrary<string> {
  const mutations: Array<fc.Arbitrary<string>> = [
    fc.constant(field.slice(0, -1)),
    fc.constant(`${field}s`),
    fc.constant(`${field} `),
    fc.constant(`${field}\u200b`),
    fc.constant(`_${field}`),
  ];
  const lookAlikeIndexes = [...field].flatMap((character, index) => (LOOK_ALIKES[character] ? [index] : []));
  if (lookAlikeIndexes.length > 0) {
    mutations.push(
      fc.constantFrom(...lookAlikeIndexes).map((index) => {
        const characters = [...field];
        characters[index] = LOOK_ALIKES[characters[index]!]!;
        return characters.join("");
      }),
    );
  }
  return fc.oneof(...mutations);
}

/** A key for `field`: mostly one Go binds (in any spelling), sometimes a near miss. */
export function spelledKey(field: string, bindWeight = 8, missWeight = 1): fc.Arbitrary<Spelling> {
  const binding = bindingName(field).chain((name) => stringLiteral(name).map((literal) => ({ literal, binds: true })));
  const miss = nonBindingName(field).chain((name) => stringLiteral(name).map((literal) => ({ literal, binds: false })));
  return fc.oneof({ arbitrary: binding, weight: bindWeight }, { arbitrary: miss, weight: missWeight });
}

/** `{ members }` with random whitespace around every token. */
export function objectText(members: readonly string[], spaces: readonly string[]): string {
  const ws = (index: number) => spaces[index % Math.max(spaces.length, 1)] ?? "";
  if (members.length === 0) return `{${ws(0)}}`;
  return `{${ws(0)}${members.map((member, index) => `${member}${ws(index + 1)}`).join(`,${ws(members.length + 1)}`)}}`;
}

export function member(key: string, value: string, spaces: readonly string[] = []): string {
  return `${key}${spaces[0] ?? ""}:${spaces[1] ?? ""}${value}`;
}

/** A label map literal and the map Go decodes it to (a repeated key: the later value). */
export interface LabelObject {
  text: string;
  labels: Map<string, string>;
}

const LABEL_KEYS = ["a", "b", "job", "Created-Via", "created-via", "Created-Via ", "ü-key", "dcp.test.quoting", "com.example/x"];
const LABEL_VALUES = ["x", "", "client", "ü", 'with "quote"', "back\\slash", "dockerd-ci-proxy", "$HOME"];

export const labelObject: fc.Arbitrary<LabelObject> = fc
  .array(
    fc.tuple(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES)).chain(([key, value]) =>
      fc.tuple(stringLiteral(key), stringLiteral(value), fc.array(whitespace, { maxLength: 2 })).map(([k, v, spaces]) => ({
        key,
        value,
        text: member(k, v, spaces),
      })),
    ),
    { maxLength: 4 },
  )
  .chain((pairs) =>
    fc.array(whitespace, { maxLength: 4 }).map((spaces) => ({
      text: objectText(
        pairs.map((pair) => pair.text),
        spaces,
      ),
      labels: new Map(pairs.map((pair) => [pair.key, pair.value] as const)),
    })),
  );

/** One member bound (or not) to a map field such as Labels, and what it does there. */
export interface LabelsMember {
  text: string;
  binds: boolean;
  /** "object": merge `labels`; "null": reset; "invalid": a value Go rejects or turns into "" (the proxy refuses those). */
  effect: { kind: "object"; labels: Map<string, string> } | { kind: "null" } | { kind: "invalid" };
}

const INVALID_LABEL_VALUES = ['"a=b"', "[]", '["a=b"]', "1", "true", '{"a":1}', '{"a":null}', '{"a":{"b":"c"}}', '{"a":["b"]}'];

export function labelsMember(field = "Labels"): fc.Arbitrary<LabelsMember> {
  const value = fc.oneof(
    { arbitrary: labelObject.map((object) => ({ text: object.text, effect: { kind: "object" as const, labels: object.labels } })), weight: 6 },
    { arbitrary: fc.constant({ text: "null", effect: { kind: "null" as const } }), weight: 2 },
    { arbitrary: fc.constantFrom(...INVALID_LABEL_VALUES).map((text) => ({ text, effect: { kind: "invalid" as const } })), weight: 1 },
  );
  return fc.tuple(spelledKey(field, 6, 1), value, fc.array(whitespace, { maxLength: 2 })).map(([key, { text, effect }, spaces]) => ({
    text: member(key.literal, text, spaces),
    binds: key.binds,
    effect,
  }));
}

/**
 * The labels Go ends up with after the members bound to the field, in order;
 * undefined when one of them is a value the proxy must refuse.
 */
export function effectiveLabels(members: readonly LabelsMember[]): Map<string, string> | undefined {
  let labels = new Map<string, string>();
  for (const m of members) {
    if (!m.binds) continue;
    if (m.effect.kind === "invalid") return undefined;
    if (m.effect.kind === "null") labels = new Map();
    else for (const [key, value] of m.effect.labels) labels.set(key, value);
  }
  return labels;
}

/** Trailing bytes after the JSON value: whitespace (fine) or anything else (must be refused). */
export const trailer: fc.Arbitrary<{ text: string; garbage: boolean }> = fc.oneof(
  { arbitrary: whitespace.map((text) => ({ text, garbage: false })), weight: 8 },
  { arbitrary: fc.constantFrom(" x", "{}", "null", "]", " {\"Labels\":null}", "\u0000").map((text) => ({ text, garbage: true })), weight: 1 },
);

/** Splits points for a chunked body (offsets are clipped to the body's length). */
export const chunking: fc.Arbitrary<number[] | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 3 },
  { arbitrary: fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 4 }), weight: 1 },
);

/** Interleaves `groups` keeping each group's own order (the relative order of repeats is what Go's result depends on). */
export function interleave<T>(groups: readonly (readonly T[])[]): fc.Arbitrary<T[]> {
  const total = groups.reduce((sum, group) => sum + group.length, 0);
  return fc.array(fc.nat(Math.max(groups.length - 1, 0)), { minLength: total * 2, maxLength: total * 2 }).map((picks) => {
    const cursors = groups.map(() => 0);
    const out: T[] = [];
    let pick = 0;
    while (out.length < total) {
      let group = pick < picks.length ? picks[pick++]! : 0;
      while (cursors[group]! >= groups[group]!.length) group = (group + 1) % groups.length;
      out.push(groups[group]![cursors[group]!++]!);
    }
    return out;
  });
}

/** A query value percent-encoded the ways clients do: %20 or '+' for a space, either hex case. */
export function queryValue(text: string): fc.Arbitrary<string> {
  return fc.tuple(fc.boolean(), fc.boolean()).map(([plusForSpace, lowerHex]) => {
    let encoded = encodeURIComponent(text);
    if (plusForSpace) encoded = encoded.replace(/%20/g, "+");
    if (lowerHex) encoded = encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase());
    return encoded;
  });
}
