/**
 * check-rollback: a service rollback restores a spec the proxy did not write
 * into, so the labels it injects into the request never reach the daemon:
 *
 * - `POST /services/{id}/update?rollback=previous` makes swarm restore the
 *   previous spec and ignore the request body;
 * - an update whose `UpdateConfig.FailureAction` is "rollback" makes swarm
 *   restore the current spec if the update fails.
 *
 * A spec made through the proxy carries the labels; one made on the daemon
 * directly does not, and restoring it would start task containers without
 * labels. So before such an update the stage asks the daemon for the
 * service and refuses unless the spec that may come back carries every
 * injected label, on the service and on its task containers. The check
 * holds until the update lands: the update names the service version it
 * applies to, and any change in between makes the daemon refuse it ("update
 * out of sequence"). An update naming another version than the current one
 * is refused too (409): queued behind a slow request it could still run
 * later, when that version has come. A rollback with no previous spec, or
 * with no valid version, goes through: the daemon refuses it itself.
 *
 * It runs after serialize, so that it reads the body as the daemon will.
 */
import { type DaemonAnswer, type DaemonClient, daemonMessage } from "../../daemon-client.js";
import { DaemonError, DaemonRefusalError, RewriteError } from "../../errors.js";
import { firstQueryValue, parseQueryPairs } from "../../rewrite/form-query.js";
import { parseJson } from "../../rewrite/json-document.js";
import { nestedStruct, singleMemberForField } from "../../rewrite/struct-fields.js";
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";

const UPDATE_PATH = /^\/services\/(.+)\/update$/i;

type Restored = "PreviousSpec" | "Spec";

export function checkRollbackStage(labels: ReadonlyMap<string, string>, daemon: DaemonClient): Stage {
  return {
    name: "check-rollback",
    process(request: ProxyRequest): ProxyRequest | Promise<ProxyRequest> {
      const route = request.route;
      if (route?.kind !== "service-update") return request;
      // The daemon reads rollback from r.Form (the query: the body is JSON)
      // and version from r.URL.Query(); either way the first value counts.
      const pairs = parseQueryPairs(route.rawQuery);
      const restored: Restored | undefined =
        firstQueryValue(pairs, "rollback")?.toString("utf8") === "previous" ? "PreviousSpec" : rollsBackOnFailure(request) ? "Spec" : undefined;
      if (restored === undefined) return request;
      const id = UPDATE_PATH.exec(route.path)?.[1];
      if (id === undefined) throw new RewriteError("DCP_INTERNAL", `cannot read the service id in ${route.path}`, 500);
      const version = firstQueryValue(pairs, "version")?.toString("utf8");
      return restoredSpecIsLabelled(daemon, id, version, labels, restored).then(() => request);
    },
  };
}

/** The update's `UpdateConfig.FailureAction` is "rollback" (swarm compares it exactly). */
function rollsBackOnFailure(request: ProxyRequest): boolean {
  const body = request.rewrite.body ?? request.bufferedBody;
  if (body === undefined) return false;
  const root = parseJson(body, "request body");
  if (root.kind !== "object") return false;
  const updateConfig = nestedStruct(root, "UpdateConfig", "UpdateConfig");
  const action = updateConfig === undefined ? undefined : singleMemberForField(updateConfig, "FailureAction", "UpdateConfig.FailureAction");
  return action?.kind === "string" && action.value === "rollback";
}

interface ServiceState {
  Version?: { Index?: unknown };
  Spec?: SpecLabels | null;
  PreviousSpec?: SpecLabels | null;
}

interface SpecLabels {
  Labels?: Record<string, unknown> | null;
  TaskTemplate?: { ContainerSpec?: { Labels?: Record<string, unknown> | null } | null } | null;
}

async function restoredSpecIsLabelled(
  daemon: DaemonClient,
  id: string,
  version: string | undefined,
  labels: ReadonlyMap<string, string>,
  restored: Restored,
): Promise<void> {
  let answer: DaemonAnswer;
  try {
    answer = await daemon.call("GET", `/services/${encodeURIComponent(id)}`);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DaemonError("DCP_DAEMON_UNREACHABLE", `cannot reach the Docker daemon to check the rollback of service ${id}: ${reason}`, { cause: error });
  }
  // No such service (404), or not a swarm manager (503): the update fails the same way.
  if (answer.status !== 200) throw new DaemonRefusalError("DCP_DAEMON_REFUSED", answer.status, daemonMessage(answer));
  const service = JSON.parse(answer.body) as ServiceState;
  const pinned = pinnedVersion(version);
  // No version, or one ParseUint refuses: the daemon refuses the update.
  if (pinned === undefined) return;
  // Another version than the one just read: the daemon would refuse it now,
  // but queued behind a slow request it could run after a later update has
  // made that version current, against a spec nobody checked.
  if (typeof service.Version?.Index !== "number" || pinned !== BigInt(service.Version.Index)) {
    throw new RewriteError("DCP_CANNOT_LABEL", `service ${id} is at another version than this update names; read it again and retry`, 409);
  }
  const spec = service[restored];
  // No spec to restore (a rollback of a service never updated): the daemon refuses it.
  if (spec === undefined || spec === null) return;
  const containerSpec = spec.TaskTemplate?.ContainerSpec;
  const labelled = carries(spec.Labels, labels) && (containerSpec === undefined || containerSpec === null || carries(containerSpec.Labels, labels));
  if (labelled) return;
  const why =
    restored === "PreviousSpec"
      ? `rolling back service ${id} is not accepted through dockerd-ci-proxy: its previous spec does not carry this proxy's labels (it was not made through the proxy), and a rollback restores it as it is; roll it back on the daemon directly`
      : `updating service ${id} with UpdateConfig.FailureAction "rollback" is not accepted through dockerd-ci-proxy: its current spec does not carry this proxy's labels (it was not made through the proxy), and a failed update would restore it as it is; use another failure action, or update it on the daemon directly`;
  throw new RewriteError("DCP_CANNOT_LABEL", why, 403);
}

/** The update's `version` as the daemon's ParseUint reads it (any leading zeros), or undefined when it refuses it. */
function pinnedVersion(version: string | undefined): bigint | undefined {
  if (version === undefined || !/^[0-9]+$/.test(version)) return undefined;
  const value = BigInt(version);
  return value <= 0xffff_ffff_ffff_ffffn ? value : undefined;
}

function carries(found: Record<string, unknown> | null | undefined, labels: ReadonlyMap<string, string>): boolean {
  for (const [key, value] of labels) if (found?.[key] !== value) return false;
  return true;
}
