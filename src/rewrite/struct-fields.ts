/**
 * Edits to a JSON object that stands for a Go struct, keyed by field name the
 * way encoding/json binds keys (see go-json-keys.ts).
 *
 * Every edit removes all members that Go would bind to the field and appends
 * one member under the canonical name, so no earlier or later variant
 * ("labels", "Labelſ", ...) is left to override what the proxy wrote.
 */
import { RewriteError } from "../errors.js";
import { quoteForMessage } from "./message-text.js";
import { keyMatches } from "./go-json-keys.js";
import type { JsonMember, JsonObject, JsonValue } from "./json-document.js";
import { jsonObject } from "./json-document.js";

/** The members Go would decode into field `fieldName`, in document order. */
export function membersForField(object: JsonObject, fieldName: string): JsonMember[] {
  return object.members.filter(([key]) => keyMatches(key, fieldName));
}

/** `object` without any member bound to `fieldName`. */
export function withoutField(object: JsonObject, fieldName: string): JsonObject {
  return jsonObject(object.members.filter(([key]) => !keyMatches(key, fieldName)));
}

/** `object` with every member bound to `fieldName` replaced by one canonical `fieldName: value`, last. */
export function withField(object: JsonObject, fieldName: string, value: JsonValue): JsonObject {
  return jsonObject([...withoutField(object, fieldName).members, [fieldName, value]]);
}

/** Dotted path of a field, for messages ("HostConfig.Mounts"). */
export function fieldPath(parentPath: string, fieldName: string): string {
  return parentPath === "" ? fieldName : `${parentPath}.${fieldName}`;
}

/**
 * The single member bound to `fieldName`, or undefined when there is none.
 * Refuses repeats whenever Go would combine them in a way that depends on the
 * schema (struct fields merge field by field, slices reuse earlier elements).
 */
export function singleMemberForField(object: JsonObject, fieldName: string, path: string): JsonValue | undefined {
  const members = membersForField(object, fieldName);
  if (members.length > 1) {
    const spellings = members.map(([key]) => quoteForMessage(key)).join(", ");
    throw new RewriteError(
      "DCP_AMBIGUOUS_FIELD",
      `${path} appears ${members.length} times (as ${spellings}); the daemon would merge them, so the proxy refuses to guess the result`,
    );
  }
  return members[0]?.[1];
}

/**
 * The object given for a nested struct field (HostConfig, TaskTemplate, ...),
 * or undefined when it is absent or null. For a pointer struct Go's `null`
 * sets nil; for a value struct it does nothing; either way a single null
 * leaves nothing set, so it is treated as absent.
 */
export function nestedStruct(object: JsonObject, fieldName: string, path: string): JsonObject | undefined {
  const value = singleMemberForField(object, fieldName, path);
  if (value === undefined || value.kind === "null") return undefined;
  if (value.kind !== "object") {
    throw new RewriteError("DCP_INVALID_JSON", `${path} must be a JSON object or null, not ${describeKind(value)}`);
  }
  return value;
}

/**
 * `object` with its nested struct `fieldName` replaced by `update(inner)`,
 * where inner is the client's object, or `{}` when the field is absent or null.
 */
export function withUpdatedNestedStruct(
  object: JsonObject,
  fieldName: string,
  path: string,
  update: (inner: JsonObject) => JsonObject,
): JsonObject {
  const inner = nestedStruct(object, fieldName, path) ?? jsonObject([]);
  return withField(object, fieldName, update(inner));
}

/** Refuses when the object has any member bound to `fieldName`. */
export function refuseField(object: JsonObject, fieldName: string, path: string, why: string): void {
  if (membersForField(object, fieldName).length > 0) {
    throw new RewriteError("DCP_AMBIGUOUS_FIELD", `${path} is not accepted here: ${why}`);
  }
}

export function describeKind(value: JsonValue): string {
  switch (value.kind) {
    case "object":
      return "an object";
    case "array":
      return "an array";
    case "string":
      return "a string";
    case "number":
      return "a number";
    case "boolean":
      return "a boolean";
    case "null":
      return "null";
  }
}
