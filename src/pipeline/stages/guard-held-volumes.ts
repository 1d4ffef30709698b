/**
 * guard-held-volumes: refuses (409) a volume delete, or a volume prune, that
 * would remove a volume the proxy created ahead of a container create still
 * under way, and notes the deletes and prunes it lets through until they are
 * answered (see volume-holds.ts). The client can try again a moment later;
 * the daemon answers a volume in use with 409 too.
 *
 * Methods are compared exactly, as the daemon's router does: "delete" is
 * not a DELETE to it.
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
      if (route === undefined) return request;
      const method = request.head.method;
      if (method === "POST" && route.path === "/volumes/prune") {
        if (holds.anyHeld) throw inUse("volume prune is refused for a moment: a volume is being created for a container through this proxy; try again");
        request.onExchangeDone = holds.prune();
        return request;
      }
      const name = method === "DELETE" ? VOLUME_PATH.exec(route.path)?.[1] : undefined;
      if (name === undefined) return request;
      if (holds.isHeld(name)) {
        throw inUse(`volume ${name} is being created for a container through this proxy and cannot be removed yet; try again`);
      }
      // Until it is answered, creates that need this name are refused (409, create-bind-volumes).
      request.onExchangeDone = holds.removal(name);
      return request;
    },
  };
}

function inUse(message: string): RewriteError {
  return new RewriteError("DCP_VOLUME_HELD", message, 409);
}
