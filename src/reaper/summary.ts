/**
 * What a reap did, per kind, and how it reads for people.
 */
import type { KindName, Resource } from "./kinds.js";

export interface Failure {
  readonly resource: Resource;
  readonly reason: string;
}

export interface KindReport {
  readonly kind: KindName;
  /** The node is not a swarm manager: nothing of this kind can exist. */
  skipped: boolean;
  /** Removed (or found already gone while removing). */
  readonly removed: Resource[];
  /** Still there after the last round, with the last reason. */
  failed: Failure[];
  /** A dry run: what would be removed. */
  readonly found: Resource[];
  /** The list itself failed (daemon error): nothing of this kind was tried. */
  listError?: string;
}

export interface ReapReport {
  readonly dryRun: boolean;
  readonly kinds: KindReport[];
}

export function emptyKindReport(kind: KindName): KindReport {
  return { kind, skipped: false, removed: [], failed: [], found: [] };
}

/** Whether everything that carried the labels is gone (a dry run never fails). */
export function reapSucceeded(report: ReapReport): boolean {
  return report.dryRun || report.kinds.every((kind) => kind.failed.length === 0 && kind.listError === undefined);
}

export function describeResource(resource: Resource): string {
  if (resource.name === resource.id) return resource.name;
  const short = resource.id.replace(/^sha256:/, "").slice(0, 12);
  return resource.name ? `${short} (${resource.name})` : short;
}

/** One line per kind (swarm kinds on a non-manager are left out), then one line per failure. */
export function formatReport(report: ReapReport): string {
  const lines: string[] = [];
  for (const kind of report.kinds) {
    if (kind.skipped) continue;
    if (kind.listError !== undefined) {
      lines.push(`${kind.kind}: could not be listed: ${kind.listError}`);
      continue;
    }
    if (report.dryRun) {
      lines.push(`${kind.kind}: would remove ${kind.found.length}`);
      for (const resource of kind.found) lines.push(`  ${describeResource(resource)}`);
      continue;
    }
    lines.push(`${kind.kind}: removed ${kind.removed.length}` + (kind.failed.length > 0 ? `, failed ${kind.failed.length}` : ""));
    for (const failure of kind.failed) lines.push(`  ${describeResource(failure.resource)}: ${failure.reason}`);
  }
  return lines.join("\n") + "\n";
}

/** Counts per kind, for structured logs. */
export function reportCounts(report: ReapReport): Record<string, { removed: number; failed: number } | "skipped"> {
  const counts: Record<string, { removed: number; failed: number } | "skipped"> = {};
  for (const kind of report.kinds) {
    counts[kind.kind] = kind.skipped ? "skipped" : { removed: kind.removed.length, failed: kind.failed.length + (kind.listError ? 1 : 0) };
  }
  return counts;
}
