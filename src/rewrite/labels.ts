/**
 * Label maps (`map[string]string` fields such as Labels) as Go decodes them,
 * and the rewrite that puts the proxy's labels into one.
 *
 * Go's encoding/json applies every member bound to the field, in order
 * (decode.go `object`): an object is decoded INTO the map already there, so
 * entries accumulate across repeats; `null` sets the map to nil. Inside one
 * object, a repeated key simply overwrites (map keys are compared exactly,
 * case-sensitively). We reproduce that to learn the client's labels, then
 * print a single canonical member holding the client's labels plus ours.
 */
import { RewriteError } from "../errors.js";
import { quoteForMessage } from "./message-text.js";
import type { JsonObject, JsonValue } from "./json-document.js";
import { jsonStringMap } from "./json-document.js";
import { describeKind, fieldPath, membersForField, withField } from "./struct-fields.js";

/** The labels Go would end up with after decoding every member of `object` bound to `fieldName`. */
export function effectiveLabels(object: JsonObject, fieldName: string, parentPath = ""): Map<string, string> {
  const path = fieldPath(parentPath, fieldName);
  let labels = new Map<string, string>();
  for (const [, value] of membersForField(object, fieldName)) {
    if (value.kind === "null") {
      labels = new Map(); // Go sets the map to nil
    } else {
      for (const [key, label] of decodeStringMap(value, path)) labels.set(key, label);
    }
  }
  return labels;
}

/**
 * One JSON object decoded as `map[string]string`: later duplicates win.
 * Non-string values are refused: Go would reject most of them, and turns
 * `null` into "" silently, which a client could use to blank a label.
 */
export function decodeStringMap(value: JsonValue, path: string): Map<string, string> {
  if (value.kind !== "object") {
    throw new RewriteError(
      "DCP_INVALID_LABELS",
      `${path} must be a JSON object of strings or null, not ${describeKind(value)}`,
    );
  }
  const map = new Map<string, string>();
  for (const [key, label] of value.members) {
    if (label.kind !== "string") {
      throw new RewriteError(
        "DCP_INVALID_LABELS",
        `${path}[${quoteForMessage(key)}] must be a string, not ${describeKind(label)}`,
      );
    }
    map.set(key, label.value);
  }
  return map;
}

/** The client's labels with the injected ones added; an injected key replaces the client's value. */
export function mergeLabels(
  client: ReadonlyMap<string, string>,
  injected: ReadonlyMap<string, string>,
): Map<string, string> {
  const merged = new Map(client);
  for (const [key, value] of injected) merged.set(key, value);
  return merged;
}

/**
 * `object` with every member bound to `fieldName` removed and one canonical
 * `fieldName: {...effective client labels, ...injected}` appended.
 */
export function withInjectedLabels(
  object: JsonObject,
  fieldName: string,
  injected: ReadonlyMap<string, string>,
  parentPath = "",
): JsonObject {
  const merged = mergeLabels(effectiveLabels(object, fieldName, parentPath), injected);
  return withField(object, fieldName, jsonStringMap(merged));
}
