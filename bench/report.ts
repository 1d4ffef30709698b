/**
 * Turns samples into results: per-workload tables (median of rounds and the
 * ratio to the direct socket measured in the same run), the performance
 * targets as PASS/MISS lines, and the JSON document for --json.
 */
import type { TargetName } from "./targets.js";
import { maxOf, median, minOf } from "./stats.js";
import { formatValue, type Sample, type Workload, type WorkloadId, type WorkloadSamples } from "./workloads.js";

export interface TargetResult {
  readonly name: TargetName;
  /** Median over rounds of the workload's value. */
  readonly median: number;
  /**
   * median / median of direct; for a workload whose targets take turns
   * within each round (measureRound), the median of the per-round ratios,
   * which compares each target with direct in the same daemon state.
   */
  readonly ratio: number;
  readonly min: number;
  readonly max: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  /** Relay CPU per unit of work: µs per request, ms per container, ms per MB. */
  readonly cpuPerUnit?: number;
  readonly peakRssBytes?: number;
  /** Median share of all cores busy on the machine during this target's rounds. */
  readonly hostBusy?: number;
  readonly errors: readonly string[];
  readonly samples: readonly Sample[];
}

export interface WorkloadResult {
  readonly id: WorkloadId;
  readonly title: string;
  readonly unit: string;
  readonly workUnit: Workload["workUnit"];
  readonly upstream: Workload["upstream"];
  readonly rounds: number;
  readonly targets: readonly TargetResult[];
}

export interface Check {
  readonly name: string;
  readonly outcome: "PASS" | "MISS" | "SKIP";
  readonly detail: string;
}

export function summarize(workload: Workload, samples: WorkloadSamples): WorkloadResult {
  const directSamples = samples.get("direct") ?? [];
  const direct = median(directSamples.map((sample) => sample.value));
  const directInRound = new Map(directSamples.map((sample) => [sample.round, sample.value]));
  const targets: TargetResult[] = [];
  for (const [name, list] of samples) {
    const values = list.map((sample) => sample.value);
    const value = median(values);
    const ratio =
      workload.measureRound !== undefined
        ? median(list.map((sample) => sample.value / (directInRound.get(sample.round) ?? Number.NaN)))
        : value / direct;
    const cpu = list.filter((sample) => sample.cpuMs !== undefined && Number.isFinite(sample.value));
    const cpuMs = cpu.reduce((sum, sample) => sum + (sample.cpuMs ?? 0), 0);
    const work = cpu.reduce((sum, sample) => sum + sample.work, 0);
    const perUnit = workload.workUnit === "request" ? (cpuMs * 1000) / work : cpuMs / work;
    const rss = list.map((sample) => sample.peakRssBytes ?? Number.NaN);
    const p50 = median(list.map((sample) => sample.p50Ms ?? Number.NaN));
    const p99 = median(list.map((sample) => sample.p99Ms ?? Number.NaN));
    const hostBusy = median(list.map((sample) => sample.hostBusy ?? Number.NaN));
    targets.push({
      name,
      median: value,
      ratio,
      min: minOf(values),
      max: maxOf(values),
      ...(Number.isFinite(p50) ? { p50Ms: p50 } : {}),
      ...(Number.isFinite(p99) ? { p99Ms: p99 } : {}),
      ...(cpu.length > 0 && work > 0 ? { cpuPerUnit: perUnit } : {}),
      ...(Number.isFinite(maxOf(rss)) ? { peakRssBytes: maxOf(rss) } : {}),
      ...(Number.isFinite(hostBusy) ? { hostBusy } : {}),
      errors: list.flatMap((sample) => (sample.error ? [`round ${sample.round + 1}: ${sample.error}`] : [])),
      samples: list,
    });
  }
  return { id: workload.id, title: workload.title, unit: workload.unit, workUnit: workload.workUnit, upstream: workload.upstream, rounds: workload.rounds, targets };
}

const CPU_UNIT: Record<Workload["workUnit"], string> = { request: "µs/req", container: "ms/ctr", MB: "ms/MB" };

/** Header and rows shared by the terminal and Markdown tables. */
function tableCells(result: WorkloadResult): { header: string[]; rows: string[][] } {
  const hasLatency = result.targets.some((target) => target.p50Ms !== undefined);
  const perOp = result.id.startsWith("ping") ? "" : result.id === "create-remove" ? "/pair" : "/op";
  const header = ["target", result.unit, "vs direct", "min–max"];
  if (hasLatency) header.push(`p50 ms${perOp}`, `p99 ms${perOp}`);
  header.push(`relay CPU ${CPU_UNIT[result.workUnit]}`, "relay peak RSS", "host CPU busy");
  const rows = result.targets.map((target) => {
    const row = [
      target.name,
      formatValue(target.median),
      Number.isFinite(target.ratio) ? target.ratio.toFixed(2) : "-",
      `${formatValue(target.min)}–${formatValue(target.max)}`,
    ];
    if (hasLatency) row.push(latency(target.p50Ms), latency(target.p99Ms));
    row.push(
      target.cpuPerUnit !== undefined ? formatValue(target.cpuPerUnit) : "-",
      target.peakRssBytes !== undefined ? `${(target.peakRssBytes / 1e6).toFixed(0)} MB` : "-",
      target.hostBusy !== undefined ? `${Math.round(target.hostBusy * 100)}%` : "-",
    );
    return row;
  });
  return { header, rows };
}

export function renderTable(result: WorkloadResult): string {
  const { header, rows } = tableCells(result);
  const upstream = result.upstream === "synthetic" ? "the synthetic upstream" : "the daemon";
  const lines = [`${result.title} — median of ${result.rounds} rounds, against ${upstream}`, ...table([header, ...rows])];
  for (const target of result.targets) for (const error of target.errors) lines.push(`  ! ${target.name} ${error}`);
  return lines.join("\n");
}

function latency(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "-";
  return value >= 10 ? value.toFixed(1) : value.toFixed(3);
}

/** Left-aligned first column, right-aligned numbers. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => "  " + row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  "));
}

/** A Markdown version of the same table, for docs/benchmarks.md. */
export function renderMarkdown(result: WorkloadResult): string {
  const { header, rows } = tableCells(result);
  const lines = [
    `**${result.title}** (median of ${result.rounds} rounds)`,
    "",
    `| ${header.join(" | ")} |`,
    `|${header.map((_, i) => (i === 0 ? " --- " : " ---: ")).join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ];
  for (const target of result.targets) for (const error of target.errors) lines.push("", `${target.name} ${error}`);
  return lines.join("\n");
}

/** The targets from the performance issue. Informational: they never change the exit code. */
export function evaluateTargets(results: ReadonlyMap<WorkloadId, WorkloadResult>, proxyPeakRssBytes: number | undefined): Check[] {
  const checks: Check[] = [];
  const proxyOf = (id: WorkloadId) => results.get(id)?.targets.find((target) => target.name === "proxy");
  const ratio = (id: WorkloadId, minimum: number, label: string) => {
    const proxy = proxyOf(id);
    if (!proxy || !Number.isFinite(proxy.ratio)) {
      checks.push({ name: `${label} ≥ ${minimum.toFixed(2)} of direct`, outcome: "SKIP", detail: "not measured" });
      return;
    }
    checks.push({
      name: `${label} ≥ ${minimum.toFixed(2)} of direct`,
      outcome: proxy.ratio >= minimum ? "PASS" : "MISS",
      detail: `${proxy.ratio.toFixed(2)} (${formatValue(proxy.median)} ${results.get(id)!.unit})`,
    });
  };
  const ahead = (id: WorkloadId, other: TargetName, label: string) => {
    const result = results.get(id);
    const proxy = proxyOf(id);
    const rival = result?.targets.find((target) => target.name === other);
    if (!proxy || !rival || !Number.isFinite(proxy.median) || !Number.isFinite(rival.median)) {
      checks.push({ name: `${label} ahead of ${other}`, outcome: "SKIP", detail: `${other} not measured` });
      return;
    }
    checks.push({
      name: `${label} ahead of ${other}`,
      outcome: proxy.median > rival.median ? "PASS" : "MISS",
      detail: `proxy ${formatValue(proxy.median)} vs ${other} ${formatValue(rival.median)} ${result!.unit}`,
    });
  };
  ratio("ping-1", 0.8, "_ping, 1 client:");
  ahead("ping-1", "socat", "_ping, 1 client:");
  ahead("ping-1", "haproxy", "_ping, 1 client:");
  ratio("ping-16", 0.7, "_ping, 16 clients:");
  ahead("ping-16", "socat", "_ping, 16 clients:");
  ahead("ping-16", "haproxy", "_ping, 16 clients:");
  ratio("create-remove", 0.95, "create+remove:");
  ratio("download", 0.95, "download:");
  ratio("upload", 0.95, "upload:");
  ratio("relay-get", 0.8, "synthetic relay GET:");
  ratio("relay-put", 0.8, "synthetic relay PUT:");
  checks.push(
    proxyPeakRssBytes === undefined
      ? { name: "proxy peak RSS ≤ 150 MB", outcome: "SKIP", detail: "not measured" }
      : {
          name: "proxy peak RSS ≤ 150 MB",
          outcome: proxyPeakRssBytes <= 150e6 ? "PASS" : "MISS",
          detail: `${(proxyPeakRssBytes / 1e6).toFixed(0)} MB`,
        },
  );
  return checks;
}

/**
 * The proxy against node-pipe, workload by workload: how much of the gap to
 * the direct socket is the proxy's own work, and how much any Node.js relay
 * pays (node-pipe copies bytes blindly and still adds two socket hops).
 */
export function renderFloorComparison(results: ReadonlyMap<WorkloadId, WorkloadResult>): string | undefined {
  const lines: string[] = [];
  for (const [id, result] of results) {
    const proxy = result.targets.find((target) => target.name === "proxy");
    const floor = result.targets.find((target) => target.name === "node-pipe");
    if (!proxy || !floor || !Number.isFinite(proxy.median) || !Number.isFinite(floor.median) || floor.median === 0) continue;
    lines.push(`  ${id.padEnd(14)} node-pipe ${floor.ratio.toFixed(2)} of direct; proxy ${proxy.ratio.toFixed(2)} of direct = ${(proxy.median / floor.median).toFixed(2)} of node-pipe`);
  }
  return lines.length > 0 ? lines.join("\n") : undefined;
}

export function renderChecks(checks: readonly Check[]): string {
  const width = Math.max(...checks.map((check) => check.name.length));
  return checks.map((check) => `  ${check.outcome.padEnd(4)}  ${check.name.padEnd(width)}  ${check.detail}`).join("\n");
}
