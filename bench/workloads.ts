/**
 * The workloads, and the interleaved runner that measures every target in
 * the same run: round after round, each target once per round, in an order
 * that rotates, so that slow drift of the machine (page cache, other load,
 * the daemon's background work) hits every target alike. A workload whose
 * upstream drifts faster than that (create+remove) measures a whole round at
 * once, the targets taking turns unit by unit. The value of a target is the
 * median of its rounds.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { CREATE_BODY, tarOfOneFile } from "./docker.js";
import { type BodySource, HttpConnection } from "./http-client.js";
import type { PingPool } from "./ping-pool.js";
import { cpuTimeMs, hostCpuTicks, RssSampler } from "./proc.js";
import { rotated } from "./stats.js";
import type { Target, TargetName } from "./targets.js";

export const WORKLOAD_IDS = ["ping-1", "ping-16", "create-remove", "download", "upload", "relay-get", "relay-put"] as const;
export type WorkloadId = (typeof WORKLOAD_IDS)[number];

export interface Measurement {
  /** The workload's figure of merit (higher is better). */
  readonly value: number;
  /** Units of work done (requests, containers, bytes), for CPU per unit. */
  readonly work: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly error?: string;
}

export interface Sample extends Measurement {
  readonly round: number;
  /** CPU time of the relay process during the measurement (proxy, haproxy). */
  readonly cpuMs?: number;
  /** Peak RSS of the relay process during the measurement. */
  readonly peakRssBytes?: number;
  /** How busy the whole machine was during the measurement, 0..1 of all cores. */
  readonly hostBusy?: number;
}

export interface Workload {
  readonly id: WorkloadId;
  readonly title: string;
  /** Unit of `value`, e.g. "req/s". */
  readonly unit: string;
  /** What `work` counts, for "CPU per …". */
  readonly workUnit: "request" | "container" | "MB";
  readonly upstream: "daemon" | "synthetic";
  readonly rounds: number;
  measure(target: Target): Promise<Measurement>;
  /**
   * Measures a whole round at once, the targets' work interleaved finely;
   * used instead of `measure` when present. For workloads whose upstream
   * drifts faster than a round of `measure` calls lasts.
   */
  measureRound?(targets: readonly Target[], round: number): Promise<Map<TargetName, Measurement>>;
  /** A smaller run of the same work, once per target before round 1 (JIT, caches, buffers); not recorded. */
  warmUp?(target: Target): Promise<unknown>;
}

export interface WorkloadSettings {
  /** Rounds of the short workloads (_ping, create+remove). */
  readonly rounds: number;
  /** Rounds of the large transfers (archive download/upload, synthetic relay). */
  readonly transferRounds: number;
  readonly pingWarmupMs: number;
  readonly pingDurationMs: number;
  readonly createCount: number;
  readonly transferBytes: number;
  readonly syntheticBytes: number;
}

const MB = 1e6;
const WARM_UP_BYTES = 64 * 1024 * 1024;

export function pingWorkload(id: "ping-1" | "ping-16", clients: number, pool: PingPool, settings: WorkloadSettings): Workload {
  return {
    id,
    title: `GET /_ping keep-alive, ${clients} client${clients === 1 ? "" : "s"} (${settings.pingDurationMs / 1000} s per round)`,
    unit: "req/s",
    workUnit: "request",
    upstream: "daemon",
    rounds: settings.rounds,
    async measure(target) {
      const result = await pool.measure(target.socketPath, clients, settings.pingWarmupMs, settings.pingDurationMs);
      const failed = result.errors > 0 || result.error !== undefined;
      return {
        value: failed ? Number.NaN : result.requestsPerSecond,
        // The relay's CPU is read over warm-up and window alike: count the requests of both.
        work: (result.requestsPerSecond * (settings.pingWarmupMs + settings.pingDurationMs)) / 1000,
        p50Ms: result.p50Ms,
        p99Ms: result.p99Ms,
        ...(failed ? { error: `${result.errors} errors${result.error ? `: ${result.error}` : ""}` } : {}),
      };
    },
  };
}

export function createRemoveWorkload(settings: WorkloadSettings): Workload {
  return {
    id: "create-remove",
    title: `container create + remove, sequential, targets taking turns pair by pair (${settings.createCount} per round)`,
    unit: "containers/s",
    workUnit: "container",
    upstream: "daemon",
    rounds: settings.rounds,
    measure: async (target) => (await createRemoveRound([target], settings.createCount, 0)).get(target.name)!,
    // The daemon's speed at this drifts within seconds (from one round to the
    // next every target moved between 30 and 68 containers/s), so the targets
    // take turns pair by pair: each target's pairs meet the daemon in the
    // same states, and the ratios compare the relays, not the moments.
    measureRound: (targets, round) => createRemoveRound(targets, settings.createCount, round),
    warmUp: async (target) => (await createRemoveRound([target], 3, 0)).get(target.name)!,
  };
}

/**
 * `count` create+remove pairs per target, one connection each, the targets
 * taking turns pair by pair (in an order that rotates). A target's rate is
 * its pairs over the time its own pairs took.
 */
async function createRemoveRound(targets: readonly Target[], count: number, round: number): Promise<Map<TargetName, Measurement>> {
  const runs = targets.map((target) => ({ target, connection: undefined as HttpConnection | undefined, pairs: [] as number[], error: undefined as string | undefined }));
  try {
    for (const run of runs) run.connection = await HttpConnection.open(run.target.socketPath);
    for (let i = 0; i < count; i++) {
      for (const run of rotated(runs, round + i)) {
        if (run.error !== undefined) continue;
        try {
          run.pairs.push(await createAndRemove(run.connection!));
        } catch (error) {
          run.error = error instanceof Error ? error.message : String(error);
        }
      }
    }
  } finally {
    for (const run of runs) run.connection?.close();
  }
  return new Map(
    runs.map(({ target, pairs, error }): [TargetName, Measurement] => {
      if (error !== undefined) return [target.name, { value: Number.NaN, work: pairs.length, error }];
      const seconds = pairs.reduce((sum, ms) => sum + ms, 0) / 1000;
      const sorted = [...pairs].sort((a, b) => a - b);
      return [
        target.name,
        {
          value: pairs.length / seconds,
          work: pairs.length,
          p50Ms: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
          p99Ms: sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? Number.NaN,
        },
      ];
    }),
  );
}

/** One container created and force-removed; returns the pair's duration in ms. */
async function createAndRemove(connection: HttpConnection): Promise<number> {
  const start = performance.now();
  const created = await connection.request({ method: "POST", path: "/containers/create", ...CREATE_BODY, timeoutMs: 30_000 });
  if (created.status !== 201) throw new Error(`create answered ${created.status}: ${created.body.toString().trim()}`);
  const id = (JSON.parse(created.body.toString()) as { Id: string }).Id;
  const removed = await connection.request({ method: "DELETE", path: `/containers/${id}?force=1`, timeoutMs: 30_000 });
  if (removed.status !== 204) throw new Error(`remove answered ${removed.status}: ${removed.body.toString().trim()}`);
  return performance.now() - start;
}

export function downloadWorkload(settings: WorkloadSettings, containerId: string): Workload {
  return {
    id: "download",
    title: `GET /containers/{id}/archive of a ${mib(settings.transferBytes)} MiB file`,
    unit: "MB/s",
    workUnit: "MB",
    upstream: "daemon",
    rounds: settings.transferRounds,
    measure: (target) =>
      transfer(target, { method: "GET", path: `/containers/${containerId}/archive?path=/file`, keepBody: false }, settings.transferBytes, "response"),
    warmUp: (target) => transfer(target, { method: "GET", path: `/containers/${containerId}/archive?path=/etc`, keepBody: false }, 1, "response"),
  };
}

export function uploadWorkload(settings: WorkloadSettings, containerId: string, tar: BodySource): Workload {
  return {
    id: "upload",
    title: `PUT /containers/{id}/archive of a ${mib(settings.transferBytes)} MiB tar`,
    unit: "MB/s",
    workUnit: "MB",
    upstream: "daemon",
    rounds: settings.transferRounds,
    measure: (target) =>
      transfer(
        target,
        { method: "PUT", path: `/containers/${containerId}/archive?path=/tmp`, headers: { "Content-Type": "application/x-tar" }, body: tar },
        tar.length,
        "request",
      ),
    warmUp: (target) => {
      const small = tarOfOneFile("bench-warm-up.bin", 4 * 1024 * 1024);
      return transfer(
        target,
        { method: "PUT", path: `/containers/${containerId}/archive?path=/tmp`, headers: { "Content-Type": "application/x-tar" }, body: small },
        small.length,
        "request",
      );
    },
  };
}

export function relayGetWorkload(settings: WorkloadSettings): Workload {
  return {
    id: "relay-get",
    title: `synthetic upstream: GET /blob of ${mib(settings.syntheticBytes)} MiB`,
    unit: "MB/s",
    workUnit: "MB",
    upstream: "synthetic",
    rounds: settings.transferRounds,
    measure: (target) => transfer(target, { method: "GET", path: `/blob?bytes=${settings.syntheticBytes}`, keepBody: false }, settings.syntheticBytes, "response"),
    warmUp: (target) => transfer(target, { method: "GET", path: `/blob?bytes=${WARM_UP_BYTES}`, keepBody: false }, WARM_UP_BYTES, "response"),
  };
}

export function relayPutWorkload(settings: WorkloadSettings): Workload {
  const body = repeatedBody(settings.syntheticBytes);
  return {
    id: "relay-put",
    title: `synthetic upstream: PUT /sink of ${mib(settings.syntheticBytes)} MiB`,
    unit: "MB/s",
    workUnit: "MB",
    upstream: "synthetic",
    rounds: settings.transferRounds,
    measure: (target) => transfer(target, { method: "PUT", path: "/sink", body }, settings.syntheticBytes, "request"),
    warmUp: (target) => transfer(target, { method: "PUT", path: "/sink", body: repeatedBody(WARM_UP_BYTES) }, WARM_UP_BYTES, "request"),
  };
}

/** One big request or response on a fresh connection; MB/s from the first byte written to the last byte read. */
async function transfer(
  target: Target,
  request: Parameters<HttpConnection["request"]>[0],
  expectedBytes: number,
  direction: "request" | "response",
): Promise<Measurement> {
  const connection = await HttpConnection.open(target.socketPath);
  try {
    const start = performance.now();
    // Bounded: at least 30 s, more for big transfers (4 MB/s), never over 2 min.
    const timeoutMs = Math.min(120_000, Math.max(30_000, expectedBytes / 4000));
    const response = await connection.request({ ...request, timeoutMs });
    const seconds = (performance.now() - start) / 1000;
    if (response.status !== 200) throw new Error(`${request.method} answered ${response.status}: ${response.body.toString().slice(0, 200)}`);
    const bytes = direction === "response" ? response.bodyBytes : expectedBytes;
    if (bytes < expectedBytes) throw new Error(`only ${bytes} of ${expectedBytes} bytes arrived`);
    return { value: bytes / MB / seconds, work: bytes / MB };
  } finally {
    connection.close();
  }
}

function repeatedBody(size: number): BodySource {
  const block = Buffer.alloc(1024 * 1024, 0x5a);
  return {
    length: size,
    *chunks() {
      let remaining = size;
      while (remaining > 0) {
        const take = Math.min(remaining, block.length);
        remaining -= take;
        yield take === block.length ? block : block.subarray(0, take);
      }
    },
  };
}

function mib(bytes: number): number {
  return Math.round(bytes / (1024 * 1024));
}

export type WorkloadSamples = Map<TargetName, Sample[]>;

/**
 * Runs `rounds` rounds of the workload; each round measures every target
 * once, starting with a different target each round. Failures become a NaN
 * sample with the error (the run goes on).
 */
export async function runInterleaved(
  workload: Workload,
  targets: readonly Target[],
  progress: (line: string) => void,
  pauseMs = 200,
): Promise<WorkloadSamples> {
  const samples: WorkloadSamples = new Map(targets.map((target) => [target.name, []]));
  if (workload.warmUp) {
    for (const target of targets) {
      try {
        await workload.warmUp(target);
      } catch (error) {
        progress(`  ${workload.id} warm-up on ${target.name} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  for (let round = 0; round < workload.rounds; round++) {
    const parts: string[] = [];
    const record = (target: Target, sample: Sample) => {
      samples.get(target.name)!.push(sample);
      parts.push(`${target.name} ${sample.error ? `ERROR (${sample.error})` : formatValue(sample.value)}`);
    };
    if (workload.measureRound) {
      const measureRound = workload.measureRound;
      const roundSamples = await measureObserved(targets, round, () => measureRound(targets, round));
      for (const target of rotated(targets, round)) record(target, roundSamples.get(target.name)!);
      await sleep(pauseMs);
    } else {
      for (const target of rotated(targets, round)) {
        const one = await measureObserved([target], round, async () => new Map([[target.name, await workload.measure(target)]]));
        record(target, one.get(target.name)!);
        await sleep(pauseMs);
      }
    }
    progress(`  ${workload.id} round ${round + 1}/${workload.rounds}: ${parts.join(" | ")}`);
  }
  return samples;
}

/**
 * Runs `measure` while watching the relays among `targets` (their CPU time
 * and peak RSS, including what a relay does while others are measured) and the
 * host's load, and turns its measurements into samples.
 */
async function measureObserved(
  targets: readonly Target[],
  round: number,
  measure: () => Promise<Map<TargetName, Measurement>>,
): Promise<Map<TargetName, Sample>> {
  const watched = targets.map((target) => {
    const pid = target.statsPid;
    return { target, pid, sampler: pid !== undefined ? new RssSampler(pid) : undefined, cpuBefore: pid !== undefined ? cpuTimeMs(pid) : Number.NaN };
  });
  const hostBefore = hostCpuTicks();
  let measurements: Map<TargetName, Measurement>;
  try {
    measurements = await measure();
  } catch (error) {
    const failed: Measurement = { value: Number.NaN, work: 0, error: error instanceof Error ? error.message : String(error) };
    measurements = new Map(targets.map((target) => [target.name, failed]));
  }
  const hostAfter = hostCpuTicks();
  const hostBusy = (hostAfter.busy - hostBefore.busy) / (hostAfter.total - hostBefore.total);
  return new Map(
    watched.map(({ target, pid, sampler, cpuBefore }): [TargetName, Sample] => {
      const peakRssBytes = sampler?.stop();
      const cpuMs = pid !== undefined ? cpuTimeMs(pid) - cpuBefore : undefined;
      const measurement = measurements.get(target.name) ?? { value: Number.NaN, work: 0, error: "not measured" };
      return [
        target.name,
        {
          ...measurement,
          round,
          ...(Number.isFinite(hostBusy) ? { hostBusy } : {}),
          ...(cpuMs !== undefined && Number.isFinite(cpuMs) ? { cpuMs } : {}),
          ...(peakRssBytes !== undefined ? { peakRssBytes } : {}),
        },
      ];
    }),
  );
}

export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return "-";
  if (value >= 100) return Math.round(value).toString();
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}
