/**
 * guard-held-volumes: a volume delete, or a volume prune, that would remove
 * a volume the proxy created ahead of a container create still under way
 * waits until that create is answered (see volume-holds.ts); the daemon
 * then answers it as it would have directly after the create (a volume in
 * use gets its 409). While a delete or prune is under way, creates that
 * need its volumes wait for its answer in turn (create-bind-volumes).
 *
 * Like those creates, a delete or prune claims only once every earlier
 * request on its connection is answered, and is sent alone: its claim then
 * lasts as long as the daemon takes to carry it out, not as long as a slow
 * request queued before it (a `wait` on a container that runs for hours
 * would otherwise hold up every `docker run -v` through the proxy).
 *
 * Methods are compared exactly, as the daemon's router does: "delete" is
 * not a DELETE to it.
 */
import { RequestRefusedError } from "../../errors.js";
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";
import { bufferBody, type BodyLimits } from "./buffer-body.js";
import { claimUntilAnswered, type VolumeClaim, type VolumeHolds } from "../volume-holds.js";

const VOLUME_PATH = /^\/volumes\/(.+)$/;

export function guardHeldVolumesStage(holds: VolumeHolds, bodyLimits: BodyLimits): Stage {
  return {
    name: "guard-held-volumes",
    process(request: ProxyRequest): ProxyRequest | Promise<ProxyRequest> {
      const route = request.route;
      if (route === undefined) return request;
      const claim = removalClaim(request.head.method, route.path);
      if (claim === undefined) return request;
      const claimInTurn = () => {
        request.answerBeforeNext = true;
        const waiting = claimUntilAnswered(holds, request, claim);
        return waiting === undefined ? request : waiting.then(() => request);
      };
      const inTurn = () => {
        const earlier = request.exchangeEnds.earlierOver(request);
        return earlier === undefined ? claimInTurn() : earlier.then(claimInTurn);
      };
      // The daemon reads a prune's form body before it prunes: a claim taken
      // before the body is complete would last as long as the client takes
      // to send it. So a prune's body is read first (and sent from memory).
      if (claim.kind === "prune" && request.head.framing.kind !== "none") {
        // With an Upgrade header the reader keeps the body open until the
        // daemon answers (it might switch protocols), and the body must end
        // before the prune is sent: refused rather than left to time out.
        if (route.mayHijack) throw new RequestRefusedError("DCP_BAD_REQUEST", "a volume prune with a body cannot ask to Upgrade the connection");
        return bufferBody(request, bodyLimits).then(inTurn);
      }
      return inTurn();
    },
  };
}

/** What a request may remove: one volume, every unused one, or none. Each call makes a new claim. */
function removalClaim(method: string, path: string): VolumeClaim | undefined {
  if (method === "POST" && path === "/volumes/prune") return { kind: "prune" };
  if (method !== "DELETE") return undefined;
  const name = VOLUME_PATH.exec(path)?.[1];
  return name === undefined ? undefined : { kind: "remove", name };
}
