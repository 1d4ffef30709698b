/**
 * classify: decides what a request needs rewritten, and refuses the shapes
 * that could make the daemon read parameters the proxy did not see.
 *
 * Query-rewritten calls (build, import, commit) are refused with a form or
 * multipart body, because Go's ParseForm lets form values in the body
 * override the query string. So is POST /images/create whatever its query
 * says: a body `fromImage=&fromSrc=…` makes a "pull" an unlabelled import.
 * JSON-rewritten calls are refused with a body that is not declared as JSON,
 * which the daemon would reject anyway. A container start is refused with a
 * body the daemon would read (see refuseHostConfigOnStart).
 */
import { RewriteError } from "../../errors.js";
import { headerValues } from "../../protocol/http-head.js";
import { isImageImport } from "../../rewrite/index.js";
import type { RouteKind } from "../../routing/routes.js";
import type { ProxyRequest, RewritePlan } from "../proxy-request.js";
import type { Stage } from "../stage.js";

const PASSTHROUGH: RewritePlan = { kind: "passthrough" };

const JSON_BODY_PLANS: Partial<Record<RouteKind, RewritePlan>> = {
  "container-create": { kind: "json-body", target: "container" },
  "network-create": { kind: "json-body", target: "network" },
  "volume-create": { kind: "json-body", target: "volume" },
  "service-create": { kind: "json-body", target: "service" },
  "service-update": { kind: "json-body", target: "service" },
  "secret-create": { kind: "json-body", target: "secret" },
  "secret-update": { kind: "json-body", target: "secret" },
  "config-create": { kind: "json-body", target: "config" },
  "config-update": { kind: "json-body", target: "config" },
};

/**
 * Calls that create what no field can label, refused (fail closed) rather
 * than forwarded: nothing could reap what they leave behind.
 */
const UNLABELLABLE: Partial<Record<RouteKind, string>> = {
  // A plugin is host-wide, carries no labels, and its process runs outside
  // any cgroup parent (plugin/v2 sets none), long after the job.
  "plugin-install":
    "installing, upgrading or enabling a plugin is not accepted through dockerd-ci-proxy: a plugin carries no labels and runs outside the CI agent's cgroup; manage plugins on the daemon directly",
  // Joining a swarm makes the daemon a swarm node and creates the ingress
  // network (and later docker_gwbridge) without labels.
  "swarm-join":
    "initialising or joining a swarm is not accepted through dockerd-ci-proxy: it changes the whole daemon and creates networks without labels; set up swarm on the daemon directly",
};

export const classifyStage: Stage = {
  name: "classify",
  process(request: ProxyRequest): ProxyRequest {
    request.plan = planFor(request);
    // POST /images/create too when it looks like a pull: a form body's
    // `fromImage=` comes first in r.Form and turns it into an import.
    if (request.plan.kind === "query" || request.route?.kind === "image-create") refuseFormBodies(request);
    if (request.plan.kind === "json-body") requireJsonContentType(request);
    if (request.route?.kind === "container-start") refuseHostConfigOnStart(request);
    const unlabellable = request.route === undefined ? undefined : UNLABELLABLE[request.route.kind];
    if (unlabellable !== undefined) throw new RewriteError("DCP_CANNOT_LABEL", unlabellable, 403);
    return request;
  },
};

function planFor(request: ProxyRequest): RewritePlan {
  const route = request.route;
  if (!route) return PASSTHROUGH;
  const jsonPlan = JSON_BODY_PLANS[route.kind];
  if (jsonPlan) return jsonPlan;
  switch (route.kind) {
    case "build":
      return { kind: "query", target: "build" };
    case "commit":
      return { kind: "query", target: "commit" };
    case "image-create":
      // A pull (fromImage set) creates nothing new of the client's making.
      return isImageImport(route.rawQuery) ? { kind: "query", target: "import" } : PASSTHROUGH;
    default:
      return PASSTHROUGH;
  }
}

/**
 * The media types of the Content-Type headers, lower-cased. Go reads them
 * with mime.ParseMediaType, which lower-cases and trims with Unicode rules:
 * "appl\u0130cation/x-www-form-urlencoded" (a dotted capital I) or a type
 * followed by U+0085 or U+00A0 is a form to the daemon. So a value with any
 * byte outside printable ASCII is refused rather than interpreted.
 */
function mediaTypes(request: ProxyRequest): string[] {
  return headerValues(request.head.fields, "content-type").map((value) => {
    if (!/^[\t\x20-\x7e]*$/.test(value)) {
      throw new RewriteError("DCP_BAD_CONTENT_TYPE", "Content-Type with characters outside printable ASCII is not accepted on this call through dockerd-ci-proxy");
    }
    return value.split(";")[0]!.trim().toLowerCase();
  });
}

function refuseFormBodies(request: ProxyRequest): void {
  const types = mediaTypes(request);
  if (types.length > 1) throw new RewriteError("DCP_BAD_CONTENT_TYPE", "repeated Content-Type header");
  const type = types[0];
  if (type === "application/x-www-form-urlencoded" || type === "multipart/form-data") {
    throw new RewriteError(
      "DCP_BAD_CONTENT_TYPE",
      `Content-Type ${type} is not accepted on this call through dockerd-ci-proxy: its parameters must be in the query string`,
    );
  }
}

function requireJsonContentType(request: ProxyRequest): void {
  if (request.head.framing.kind === "none") return; // no body: the rewrite supplies one
  const types = mediaTypes(request);
  if (types.length !== 1 || types[0] !== "application/json") {
    throw new RewriteError("DCP_BAD_CONTENT_TYPE", "Content-Type specified must be application/json");
  }
}

/**
 * Before API 1.24 a start's body is a whole new host config, applied as the
 * container starts: its `Binds` and `Mounts` make volumes without labels and
 * its `CgroupParent` replaces the one given at create (seen on dockerd 20.10
 * with `/v1.23/containers/{id}/start`). The daemon reads the body when it is
 * longer than 7 bytes or of unknown length (router/container:
 * "A non-nil json object is at least 7 characters"), and from 1.24 on it
 * answers such a start with 400 itself. So such a start is refused whatever
 * its version; an empty body or a short one like `{}` goes through.
 */
function refuseHostConfigOnStart(request: ProxyRequest): void {
  const framing = request.head.framing;
  if (framing.kind === "none" || (framing.kind === "length" && framing.length <= 7)) return;
  throw new RewriteError(
    "DCP_HOST_CONFIG_ON_START",
    "a container start with a request body is not accepted through dockerd-ci-proxy: host settings at start (API before 1.24) would make volumes without labels and set the cgroup parent; give them when the container is created",
  );
}
