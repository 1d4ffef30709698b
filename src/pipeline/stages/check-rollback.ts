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
 * out of sequence"). Updates for another version, or a rollback with no
 * previous spec, go through: the daemon refuses them itself.
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
  const spec = service[restored];
  if (spec === undefined || spec === null || !sameVersion(version, service.Version?.Index)) return;
  const containerSpec = spec.TaskTemplate?.ContainerSpec;
  const labelled = carries(spec.Labels, labels) && (containerSpec === undefined || containerSpec === null || carries(containerSpec.Labels, labels));
  if (labelled) return;
  const why =
    restored === "PreviousSpec"
      ? `rolling back service ${id} is not accepted through dockerd-ci-proxy: its previous spec does not carry this proxy's labels (it was not made through the proxy), and a rollback restores it as it is; roll it back on the daemon directly`
      : `updating service ${id} with UpdateConfig.FailureAction "rollback" is not accepted through dockerd-ci-proxy: its current spec does not carry this proxy's labels (it was not made through the proxy), and a failed update would restore it as it is; use another failure action, or update it on the daemon directly`;
  throw new RewriteError("DCP_CANNOT_LABEL", why, 403);
}

/** Whether the update's `version` names the state just read (the daemon parses it with ParseUint). */
function sameVersion(version: string | undefined, index: unknown): boolean {
  // Any number of leading zeros: ParseUint takes "0005" as 5.
  if (version === undefined || !/^[0-9]+$/.test(version) || typeof index !== "number") return false;
  return BigInt(version) === BigInt(index);
}

function carries(found: Record<string, unknown> | null | undefined, labels: ReadonlyMap<string, string>): boolean {
  for (const [key, value] of labels) if (found?.[key] !== value) return false;
  return true;
}
