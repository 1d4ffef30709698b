/**
 * guard-held-volumes: a volume delete, or a volume prune, that would remove
 * a volume the proxy created ahead of a container create still under way
 * waits until that create is answered (see volume-holds.ts); the daemon
 * then answers it as it would have directly after the create (a volume in
 * use gets its 409). While a delete or prune is under way, creates that
 * need its volumes wait for its answer in turn (create-bind-volumes).
 *
 * Methods are compared exactly, as the daemon's router does: "delete" is
 * not a DELETE to it.
 */
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";
import { claimForExchange, type VolumeClaim, type VolumeHolds } from "../volume-holds.js";

const VOLUME_PATH = /^\/volumes\/(.+)$/;
const PRUNE: VolumeClaim = { kind: "prune" };

export function guardHeldVolumesStage(holds: VolumeHolds): Stage {
  return {
    name: "guard-held-volumes",
    process(request: ProxyRequest): ProxyRequest | Promise<ProxyRequest> {
      const route = request.route;
      if (route === undefined) return request;
      const claim = removalClaim(request.head.method, route.path);
      if (claim === undefined) return request;
      const waiting = claimForExchange(holds, request, claim);
      return waiting === undefined ? request : waiting.then(() => request);
    },
  };
}

/** What a request may remove: one volume, every unused one, or none. */
function removalClaim(method: string, path: string): VolumeClaim | undefined {
  if (method === "POST" && path === "/volumes/prune") return PRUNE;
  if (method !== "DELETE") return undefined;
  const name = VOLUME_PATH.exec(path)?.[1];
  return name === undefined ? undefined : { kind: "remove", name };
}
