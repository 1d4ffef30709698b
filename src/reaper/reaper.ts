/**
 * Removes everything that carries ALL the given labels, kind by kind in
 * order (see kinds.ts), in bounded rounds: a network or volume can be held
 * for a moment after its container is gone, a service's task containers take
 * time to stop, an image can have a labelled child. Each round lists every
 * kind again, so whatever went away by itself is not counted as a failure.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type DaemonClient, daemonMessage } from "../daemon-client.js";
import { type Kind, isSwarmInactive, kindsToReap, type Resource } from "./kinds.js";
import { emptyKindReport, type Failure, type ReapReport } from "./summary.js";

export interface ReapOptions {
  readonly labels: ReadonlyMap<string, string>;
  /** Images too (`--images`). */
  readonly images: boolean;
  /** List only, remove nothing. */
  readonly dryRun: boolean;
  /** How many passes at most (default 5). */
  readonly rounds?: number;
  /** Pause between passes (default 1 s). */
  readonly retryDelayMs?: number;
  /** No new round (nor removal) starts after this time (ms since the epoch). */
  readonly deadline?: number;
}

export const DEFAULT_ROUNDS = 5;
export const DEFAULT_RETRY_DELAY_MS = 1_000;

export async function reap(client: DaemonClient, options: ReapOptions): Promise<ReapReport> {
  if (options.labels.size === 0) throw new Error("refusing to reap without a label filter");
  const kinds = kindsToReap({ images: options.images });
  const reports = new Map(kinds.map((kind) => [kind.name, emptyKindReport(kind.name)]));
  const report: ReapReport = { dryRun: options.dryRun, kinds: [...reports.values()] };
  const rounds = Math.max(1, options.rounds ?? DEFAULT_ROUNDS);
  const expired = () => options.deadline !== undefined && Date.now() > options.deadline;

  for (let round = 1; round <= rounds; round++) {
    let leftovers = false;
    for (const kind of kinds) {
      const kindReport = reports.get(kind.name)!;
      if (kindReport.skipped) continue;
      const listed = await list(client, kind, options.labels);
      if (listed.kind === "inactive") {
        kindReport.skipped = true;
        continue;
      }
      if (listed.kind === "error") {
        kindReport.listError = listed.reason;
        leftovers = true;
        continue;
      }
      delete kindReport.listError;
      if (options.dryRun) {
        kindReport.found.push(...listed.resources);
        continue;
      }
      const failed: Failure[] = [];
      for (const resource of listed.resources) {
        if (expired()) {
          failed.push({ resource, reason: "not tried: out of time" });
          continue;
        }
        const reason = await remove(client, kind, resource);
        if (reason === undefined) kindReport.removed.push(resource);
        else failed.push({ resource, reason });
      }
      kindReport.failed = failed;
      if (failed.length > 0) leftovers = true;
    }
    if (options.dryRun || !leftovers || round === rounds || expired()) break;
    await sleep(options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS);
  }
  return report;
}

type Listed = { kind: "ok"; resources: Resource[] } | { kind: "inactive" } | { kind: "error"; reason: string };

async function list(client: DaemonClient, kind: Kind, labels: ReadonlyMap<string, string>): Promise<Listed> {
  try {
    const answer = await client.call("GET", kind.listPath(labels));
    if (kind.swarm && isSwarmInactive(answer)) return { kind: "inactive" };
    if (answer.status !== 200) return { kind: "error", reason: `${answer.status} ${daemonMessage(answer)}` };
    return { kind: "ok", resources: kind.parseList(JSON.parse(answer.body) as unknown).filter((resource) => resource.id !== "") };
  } catch (error) {
    return { kind: "error", reason: error instanceof Error ? error.message : String(error) };
  }
}

/** undefined when the resource is gone, else why not. */
async function remove(client: DaemonClient, kind: Kind, resource: Resource): Promise<string | undefined> {
  try {
    for (const path of kind.removePaths(resource)) {
      const answer = await client.call("DELETE", path);
      // 404: already gone (an image whose last tag just went, a task container swarm removed).
      if (answer.status >= 300 && answer.status !== 404) return `${answer.status} ${daemonMessage(answer)}`;
    }
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
