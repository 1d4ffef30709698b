import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { keyMatches } from "./go-json-keys.js";
import { fuzzParams } from "../test-fuzz.js";

/**
 * Reference: Go 1.21+ `foldName` restricted to what can equal an ASCII name —
 * ASCII letters upper-cased, ſ → S, K (Kelvin) → K, everything else itself.
 */
function goFold(text: string): string {
  return [...text]
    .map((character) => {
      if (character === "\u017F") return "S";
      if (character === "\u212A") return "K";
      return /^[a-z]$/.test(character) ? character.toUpperCase() : character;
    })
    .join("");
}

describe("keyMatches", () => {
  it.each([
    ["Labels", "Labels"],
    ["labels", "Labels"],
    ["LABELS", "Labels"],
    ["lAbElS", "Labels"],
    ["Labelſ", "Labels"],
    ["labelſ", "Labels"],
    ["ſ", "S"],
    ["hostconfig", "HostConfig"],
    ["Hoſtconfig", "HostConfig"],
    ["cgroupparent", "CgroupParent"],
    ["Tas\u212ATemplate", "TaskTemplate"],
    ["taſ\u212Atemplate", "TaskTemplate"],
    ["Containerſpec", "ContainerSpec"],
    ["volumeoptionſ", "VolumeOptions"],
    ["\u212Aey", "Key"],
    ["a_b-1", "A_B-1"],
  ])("%j matches field %s", (key, field) => {
    expect(keyMatches(key, field)).toBe(true);
  });

  it.each([
    ["Label", "Labels"],
    ["Labelss", "Labels"],
    ["Labels ", "Labels"],
    [" Labels", "Labels"],
    ["Labels\u0000", "Labels"],
    ["Lab\u0000els", "Labels"],
    ["Labe1s", "Labels"],
    ["Labelſſ", "Labels"],
    ["\u212Aabels", "Labels"], // Kelvin folds to k only
    ["Labels\u0301", "Labels"], // a combining mark is a rune of its own
    ["Label\u0455", "Labels"], // Cyrillic dze looks like s but does not fold to it
    ["LabelS\u200B", "Labels"],
    ["Lİbels", "Labels"], // Turkish dotted I does not simple-fold to i
    ["labels", "Label_s"],
    ["a-b", "a_b"],
    ["", "Labels"],
    ["ſ", "K"],
    ["\u212A", "S"],
  ])("%j does not match field %s", (key, field) => {
    expect(keyMatches(key, field)).toBe(false);
  });

  const fieldNames = ["Labels", "HostConfig", "CgroupParent", "Mounts", "Type", "VolumeOptions", "TaskTemplate", "ContainerSpec", "Key_1"];

  type CharacterChange = "keep" | "flip" | "fold" | { readonly replaceWith: string };
  const characterChange: fc.Arbitrary<CharacterChange> = fc.oneof(
    fc.constantFrom<CharacterChange>("keep", "flip", "fold"),
    fc.constantFrom("\u0455", "x", "İ", "ı", "\u00DF", "_").map((replaceWith) => ({ replaceWith })),
  );

  /** Keys built from a field name by per-character case and fold changes, plus some edits. */
  const keyVariant = (field: string): fc.Arbitrary<string> =>
    fc
      .tuple(
        fc.array(characterChange, { minLength: field.length, maxLength: field.length }),
        fc.constantFrom("", "s", "ſ", " ", "\u0301"),
        fc.boolean(),
      )
      .map(([changes, suffix, dropLast]) => {
        const characters = [...field].map((character, index) => {
          const change = changes[index] ?? "keep";
          if (change === "flip") {
            return character === character.toLowerCase() ? character.toUpperCase() : character.toLowerCase();
          }
          if (change === "fold") {
            if (/[sS]/.test(character)) return "\u017F";
            if (/[kK]/.test(character)) return "\u212A";
            return character;
          }
          if (change === "keep") return character;
          return change.replaceWith;
        });
        if (dropLast) characters.pop();
        return characters.join("") + suffix;
      });

  it("agrees with Go's folding for case and fold variants of field names", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...fieldNames).chain((field) => fc.tuple(fc.constant(field), keyVariant(field))),
        ([field, key]) => {
          expect(keyMatches(key, field)).toBe(goFold(key) === goFold(field));
        },
      ),
      fuzzParams(3000),
    );
  });

  it("agrees with Go's folding for arbitrary keys", () => {
    fc.assert(
      fc.property(fc.constantFrom(...fieldNames), fc.string({ unit: "binary", maxLength: 14 }), (field, key) => {
        expect(keyMatches(key, field)).toBe(goFold(key) === goFold(field));
      }),
      fuzzParams(3000),
    );
  });
});
