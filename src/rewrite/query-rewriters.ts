/**
 * Rewriters for calls whose labels travel in the query string: /build,
 * image import (POST /images/create without fromImage) and /commit.
 *
 * They take and return the raw query (without '?'). Pairs the proxy does not
 * own are forwarded byte for byte and in order; the pairs it owns are removed
 * wherever they were and appended once, in its own encoding.
 */
import { RewriteError } from "../errors.js";
import { assertChangeIsSelfContained, labelChangeLine } from "./dockerfile-changes.js";
import {
  allQueryValues,
  encodeQueryPair,
  firstQueryValue,
  joinQueryPairs,
  pairHasKey,
  parseQueryPairs,
} from "./form-query.js";
import type { Injected } from "./injected.js";
import { jsonStringMap, parseJson, serializeJson } from "./json-document.js";
import { decodeStringMap, mergeLabels } from "./labels.js";
import { describeKind } from "./struct-fields.js";

/**
 * POST /build: `labels` is a JSON object of strings, read with FormValue (the
 * FIRST `labels` pair counts, an empty value means none); the classic builder
 * also reads `cgroupparent` with FormValue.
 *
 * `forcerm=1` is always written too. The classic builder runs each RUN step
 * in a container that carries none of the build's labels (they become a
 * LABEL step at the end of the last stage), and keeps those containers after
 * a failed step, or after every step with `rm=0`. With `forcerm` (which also
 * implies `rm` from API 1.12 on, build_routes.go) it removes them whatever
 * happens, so none is left unlabelled. BuildKit runs no daemon containers
 * and ignores both.
 */
export function rewriteBuildQuery(query: string, injected: Injected): string {
  const pairs = parseQueryPairs(query);
  const clientLabels = buildLabels(firstQueryValue(pairs, "labels"));
  const owned = injected.cgroupParent === undefined ? ["labels", "forcerm"] : ["labels", "forcerm", "cgroupparent"];
  const kept = pairs.filter((pair) => !owned.some((name) => pairHasKey(pair, name))).map((pair) => pair.raw);
  const merged = mergeLabels(clientLabels, injected.labels);
  const appended = [encodeQueryPair("labels", serializeJson(jsonStringMap(merged))), encodeQueryPair("forcerm", "1")];
  if (injected.cgroupParent !== undefined) appended.push(encodeQueryPair("cgroupparent", injected.cgroupParent));
  return joinQueryPairs([...kept, ...appended]);
}

/**
 * POST /images/create is a pull when its first `fromImage` value is non-empty
 * (`r.Form.Get("fromImage") != ""`), otherwise an import.
 */
export function isImageImport(query: string): boolean {
  const fromImage = firstQueryValue(parseQueryPairs(query), "fromImage");
  return fromImage === undefined || fromImage.length === 0;
}

/** Image import: one `changes=LABEL ...` per injected label, after the client's changes. */
export function rewriteImportQuery(query: string, injected: Injected): string {
  return withLabelChanges(query, injected);
}

/**
 * POST /commit: one `changes=LABEL ...` per injected label, after the client's
 * changes. (The new image also inherits the container's labels and takes the
 * body's Labels, but changes are applied over both.)
 */
export function rewriteCommitQuery(query: string, injected: Injected): string {
  return withLabelChanges(query, injected);
}

/** The client's build labels: `labels` decoded as Go's json.Unmarshal into map[string]string. */
function buildLabels(value: Buffer | undefined): Map<string, string> {
  if (value === undefined || value.length === 0) return new Map();
  const document = parseJson(value, "query parameter labels");
  if (document.kind === "null") return new Map();
  if (document.kind !== "object") {
    throw new RewriteError(
      "DCP_INVALID_LABELS",
      `query parameter labels must be a JSON object of strings, not ${describeKind(document)}`,
    );
  }
  return decodeStringMap(document, "query parameter labels");
}

/** `changes` is read in full (`r.Form["changes"]`), so ours are appended after every client value. */
function withLabelChanges(query: string, injected: Injected): string {
  const pairs = parseQueryPairs(query);
  for (const change of allQueryValues(pairs, "changes")) {
    assertChangeIsSelfContained(change.toString("utf8"));
  }
  const appended = [...injected.labels].map(([key, value]) =>
    encodeQueryPair("changes", labelChangeLine(key, value)),
  );
  return joinQueryPairs([...pairs.map((pair) => pair.raw), ...appended]);
}
