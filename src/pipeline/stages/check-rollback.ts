/**
 * check-rollback: `POST /services/{id}/update?rollback=previous` makes swarm
 * restore the service's previous spec and ignore the request body, so the
 * labels the proxy writes into the body never reach the daemon. A previous
 * spec made through the proxy carries them; one made on the daemon directly
 * does not, and rolling back to it would start task containers without
 * labels.
 *
 * So before such an update the stage asks the daemon for the service and
 * refuses unless the previous spec carries every injected label, on the
 * service and on its task containers. The check holds until the update
 * lands: the update names the service version it applies to, and any change
 * in between makes the daemon refuse it ("update out of sequence"). Updates
 * for another version, or a service without a previous spec, go through:
 * the daemon refuses them itself.
 */
import { type DaemonAnswer, type DaemonClient, daemonMessage } from "../../daemon-client.js";
import { DaemonError, DaemonRefusalError, RewriteError } from "../../errors.js";
import { firstQueryValue, parseQueryPairs } from "../../rewrite/form-query.js";
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";

const UPDATE_PATH = /^\/services\/(.+)\/update$/i;

export function checkRollbackStage(labels: ReadonlyMap<string, string>, daemon: DaemonClient): Stage {
  return {
    name: "check-rollback",
    process(request: ProxyRequest): ProxyRequest | Promise<ProxyRequest> {
      const route = request.route;
      if (route?.kind !== "service-update") return request;
      // The daemon reads rollback from r.Form (the query: the body is JSON)
      // and version from r.URL.Query(); either way the first value counts.
      const pairs = parseQueryPairs(route.rawQuery);
      if (firstQueryValue(pairs, "rollback")?.toString("utf8") !== "previous") return request;
      const id = UPDATE_PATH.exec(route.path)?.[1];
      if (id === undefined) throw new RewriteError("DCP_INTERNAL", `cannot read the service id in ${route.path}`, 500);
      const version = firstQueryValue(pairs, "version")?.toString("utf8");
      return previousSpecIsLabelled(daemon, id, version, labels).then(() => request);
    },
  };
}

interface ServiceState {
  Version?: { Index?: unknown };
  PreviousSpec?: SpecLabels | null;
}

interface SpecLabels {
  Labels?: Record<string, unknown> | null;
  TaskTemplate?: { ContainerSpec?: { Labels?: Record<string, unknown> | null } | null } | null;
}

async function previousSpecIsLabelled(daemon: DaemonClient, id: string, version: string | undefined, labels: ReadonlyMap<string, string>): Promise<void> {
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
  const previous = service.PreviousSpec;
  if (previous === undefined || previous === null || !sameVersion(version, service.Version?.Index)) return;
  const containerSpec = previous.TaskTemplate?.ContainerSpec;
  const labelled = carries(previous.Labels, labels) && (containerSpec === undefined || containerSpec === null || carries(containerSpec.Labels, labels));
  if (!labelled) {
    throw new RewriteError(
      "DCP_CANNOT_LABEL",
      `rolling back service ${id} is not accepted through dockerd-ci-proxy: its previous spec does not carry this proxy's labels (it was not made through the proxy), and a rollback restores it as it is; roll it back on the daemon directly`,
      403,
    );
  }
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
