/**
 * refuse-buildkit (`--refuse-buildkit`, off by default): refuses the two ways
 * into BuildKit, `/build?version=2` and buildx's `POST /grpc`.
 *
 * A BuildKit build can hand itself to a frontend of its own choosing (a
 * `# syntax=` line, the BUILDKIT_SYNTAX build argument), and that frontend
 * decides the image's config: it may ignore the labels the proxy passes on.
 * The Dockerfile travels in the client's session, out of the proxy's sight,
 * and buildx's builds travel inside an HTTP/2 stream the proxy does not
 * rewrite. Deployments that must not allow a single unlabelled image turn
 * this on and build with the classic builder.
 */
import { RewriteError } from "../../errors.js";
import { firstQueryValue, parseQueryPairs } from "../../rewrite/form-query.js";
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";

export const refuseBuildKitStage: Stage = {
  name: "refuse-buildkit",
  process(request: ProxyRequest): ProxyRequest {
    const route = request.route;
    if (route?.kind === "grpc" || (route?.kind === "build" && isBuildKitBuild(route.rawQuery))) {
      throw new RewriteError(
        "DCP_BUILDKIT_REFUSED",
        "BuildKit builds are refused by this dockerd-ci-proxy (--refuse-buildkit): a BuildKit frontend can leave the labels out; build with the classic builder (DOCKER_BUILDKIT=0)",
        403,
      );
    }
    return request;
  },
};

/** The daemon picks the builder from the FIRST `version` value: "2" is BuildKit. */
function isBuildKitBuild(rawQuery: string): boolean {
  return firstQueryValue(parseQueryPairs(rawQuery), "version")?.toString("latin1") === "2";
}
