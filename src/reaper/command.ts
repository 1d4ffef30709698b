/**
 * `dockerd-ci-proxy reap` and `--reap-on-exit`: run a reap against the
 * daemon socket and report it.
 */
import type { Logger } from "pino";
import { daemonClient } from "../daemon-client.js";
import { reap } from "./reaper.js";
import { formatReport, reapSucceeded, reportCounts } from "./summary.js";

export interface ReapConfig {
  readonly dockerSocket: string;
  readonly labels: ReadonlyMap<string, string>;
  readonly images: boolean;
  readonly dryRun: boolean;
}

/** The subcommand: summary on stdout, 0 when everything labelled is gone, 1 otherwise. */
export async function runReapCommand(config: ReapConfig, out: (text: string) => void, err: (text: string) => void): Promise<number> {
  const filter = [...config.labels].map(([name, value]) => `${name}=${value}`).join(", ");
  out(`${config.dryRun ? "would reap" : "reaping"} everything labelled ${filter} on ${config.dockerSocket}${config.images ? " (images too)" : ""}\n`);
  const client = daemonClient(config.dockerSocket);
  // One clear line when the daemon is not there, rather than every kind failing round after round.
  const ping = await client.call("GET", "/_ping").catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
  if (ping instanceof Error || ping.status !== 200) {
    err(`dockerd-ci-proxy reap: cannot reach the Docker daemon at ${config.dockerSocket}: ${ping instanceof Error ? ping.message : `GET /_ping answered ${ping.status}`}\n`);
    return 1;
  }
  const report = await reap(client, config);
  out(formatReport(report));
  if (reapSucceeded(report)) return 0;
  err("dockerd-ci-proxy reap: some resources could not be removed (see above)\n");
  return 1;
}

/** How long `--reap-on-exit` may take after the drain. */
export const REAP_ON_EXIT_TIMEOUT_MS = 30_000;

/** The proxy's own reap at shutdown: bounded, logged, never throws. */
export async function reapOnExit(dockerSocket: string, labels: ReadonlyMap<string, string>, log: Logger): Promise<boolean> {
  const started = Date.now();
  log.info({ labels: Object.fromEntries(labels) }, "reaping what carries the proxy's labels");
  try {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), REAP_ON_EXIT_TIMEOUT_MS + 5_000);
    });
    const report = await Promise.race([
      reap(daemonClient(dockerSocket, REAP_ON_EXIT_TIMEOUT_MS / 2), {
        labels,
        images: false,
        dryRun: false,
        deadline: started + REAP_ON_EXIT_TIMEOUT_MS,
      }),
      timedOut,
    ]).finally(() => clearTimeout(timer));
    if (report === undefined) {
      log.warn({ durationMs: Date.now() - started }, "reap gave up: the daemon did not answer in time");
      return false;
    }
    const ok = reapSucceeded(report);
    const entry = { counts: reportCounts(report), durationMs: Date.now() - started };
    if (ok) log.info(entry, "reaped");
    else {
      const failures = report.kinds.flatMap((kind) => [
        ...kind.failed.map((failure) => ({ kind: kind.kind, id: failure.resource.id, reason: failure.reason })),
        ...(kind.listError ? [{ kind: kind.kind, reason: kind.listError }] : []),
      ]);
      log.warn({ ...entry, failures }, "reap left resources behind");
    }
    return ok;
  } catch (error) {
    log.error({ err: error }, "reap failed");
    return false;
  }
}
