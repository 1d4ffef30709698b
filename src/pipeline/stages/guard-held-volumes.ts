/**
 * guard-held-volumes: refuses (409) a volume delete, or a volume prune, that
 * would remove a volume the proxy created ahead of a container create still
 * under way (see volume-holds.ts). The client can try again a moment later;
 * the daemon answers a volume in use with 409 too.
 */
import { RewriteError } from "../../errors.js";
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";
import type { VolumeHolds } from "../volume-holds.js";

const VOLUME_PATH = /^\/volumes\/(.+)$/;

export function guardHeldVolumesStage(holds: VolumeHolds): Stage {
  return {
    name: "guard-held-volumes",
    process(request: ProxyRequest): ProxyRequest {
      const route = request.route;
      if (route === undefined || !holds.anyHeld) return request;
      const method = request.head.method.toUpperCase();
      if (method === "POST" && route.path.toLowerCase() === "/volumes/prune") {
        throw inUse("volume prune is refused for a moment: a volume is being created for a container through this proxy; try again");
      }
      const name = method === "DELETE" ? VOLUME_PATH.exec(route.path)?.[1] : undefined;
      if (name !== undefined && holds.isHeld(name)) {
        throw inUse(`volume ${name} is being created for a container through this proxy and cannot be removed yet; try again`);
      }
      return request;
    },
  };
}

function inUse(message: string): RewriteError {
  return new RewriteError("DCP_VOLUME_HELD", message, 409);
}
