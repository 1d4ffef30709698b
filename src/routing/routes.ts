/**
 * Which Docker API call a request is, as far as the proxy cares.
 *
 * What matters: calls that create a resource (they are rewritten, or refused
 * when they cannot carry labels: plugins, swarm init/join), container start
 * (before API 1.24 its body is a host config that makes volumes and sets the
 * cgroup parent, so it is checked), /grpc (BuildKit, refused on request),
 * and calls whose connection may turn into a raw stream (attach, exec start,
 * and anything asking to Upgrade). Everything else is "passthrough" and is
 * forwarded untouched. Matching is case-insensitive and method-insensitive on
 * purpose: rewriting a request the daemon would reject costs nothing, missing
 * one it would accept breaks the proxy's promise.
 */
import { daemonPath } from "./daemon-path.js";

export type RouteKind =
  | "container-create"
  | "build"
  | "network-create"
  | "volume-create"
  | "service-create"
  | "service-update"
  | "secret-create"
  | "secret-update"
  | "config-create"
  | "config-update"
  | "image-create"
  | "commit"
  | "container-start"
  | "plugin-install"
  | "swarm-join"
  | "grpc"
  | "attach"
  | "exec-start"
  | "passthrough";

export interface Route {
  readonly kind: RouteKind;
  /** The decoded, cleaned, unversioned path (for logs). */
  readonly path: string;
  readonly rawQuery: string;
  /** The daemon may answer by turning the connection into a raw byte stream. */
  readonly mayHijack: boolean;
}

// An id or name: one segment or more. The daemon's container and exec routes
// take names with slashes (`/containers/{name:.*}/start`): a link alias is
// registered as "/<container>/<alias>", so `/containers/web/db/start` starts
// the container linked as db. Matching more than the daemon does only
// classifies requests it would not route, which costs nothing.
const SEGMENTS = ".+";
const TABLE: ReadonlyArray<readonly [RegExp, RouteKind]> = [
  [/^\/containers\/create$/i, "container-create"],
  [/^\/build$/i, "build"],
  [/^\/networks\/create$/i, "network-create"],
  [/^\/volumes\/create$/i, "volume-create"],
  [/^\/services\/create$/i, "service-create"],
  [new RegExp(`^/services/${SEGMENTS}/update$`, "i"), "service-update"],
  [/^\/secrets\/create$/i, "secret-create"],
  [new RegExp(`^/secrets/${SEGMENTS}/update$`, "i"), "secret-update"],
  [/^\/configs\/create$/i, "config-create"],
  [new RegExp(`^/configs/${SEGMENTS}/update$`, "i"), "config-update"],
  [/^\/images\/create$/i, "image-create"],
  [/^\/commit$/i, "commit"],
  [new RegExp(`^/containers/${SEGMENTS}/start$`, "i"), "container-start"],
  [/^\/plugins\/(pull|create)$/i, "plugin-install"],
  [new RegExp(`^/plugins/${SEGMENTS}/(upgrade|enable)$`, "i"), "plugin-install"],
  [/^\/swarm\/(init|join)$/i, "swarm-join"],
  [/^\/grpc$/i, "grpc"],
  [new RegExp(`^/containers/${SEGMENTS}/attach$`, "i"), "attach"],
  [new RegExp(`^/exec/${SEGMENTS}/start$`, "i"), "exec-start"],
];

const HIJACK_KINDS: ReadonlySet<RouteKind> = new Set(["attach", "exec-start"]);

export function classifyRoute(method: string, target: string, wantsUpgrade: boolean): Route {
  const { route, rawQuery } = daemonPath(target);
  // Every creating and hijacking call is a POST; a GET can be served as-is.
  let kind: RouteKind = "passthrough";
  if (method.toUpperCase() !== "GET" && method.toUpperCase() !== "HEAD") {
    for (const [pattern, candidate] of TABLE) {
      if (pattern.test(route)) {
        kind = candidate;
        break;
      }
    }
  }
  // Only attach/exec start, /grpc and plain pass-through calls (/session,
  // attach/ws) can become raw streams: a create that asks to Upgrade is still
  // a create, and its body must be read and rewritten like any other.
  return { kind, path: route, rawQuery, mayHijack: HIJACK_KINDS.has(kind) || (wantsUpgrade && (kind === "passthrough" || kind === "grpc")) };
}
