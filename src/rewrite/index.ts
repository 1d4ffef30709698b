/**
 * Rewriting of request bodies and query strings, as pure functions: the
 * daemon only ever reads bytes the proxy printed, with the injected labels
 * (and cgroup parent) in the one place it will look for them.
 */
export type { Injected } from "./injected.js";
export { rewriteContainerCreate, rewriteLabelsOnly, rewriteServiceSpec } from "./body-rewriters.js";
export { isImageImport, rewriteBuildQuery, rewriteCommitQuery, rewriteImportQuery } from "./query-rewriters.js";
export type {
  JsonArray,
  JsonBoolean,
  JsonMember,
  JsonNull,
  JsonNumber,
  JsonObject,
  JsonString,
  JsonValue,
} from "./json-document.js";
export { MAX_NESTING_DEPTH, parseJson, serializeJson } from "./json-document.js";
export { keyMatches } from "./go-json-keys.js";
export { effectiveLabels, withInjectedLabels } from "./labels.js";
