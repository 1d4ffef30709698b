/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`): where the CPU went,
 * by function (self time), by module (the proxy's own code, each npm package,
 * Node internals, GC), and the proxy's own functions by inclusive time.
 *
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile> [top]
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  /** Sampled time that was not idle, in ms. */
  readonly busyMs: number;
  readonly idleMs: number;
  readonly selfByFunction: ReadonlyArray<{ readonly name: string; readonly ms: number; readonly share: number }>;
  readonly selfByModule: ReadonlyArray<{ readonly name: string; readonly ms: number; readonly share: number }>;
  readonly inclusiveOwnCode: ReadonlyArray<{ readonly name: string; readonly ms: number; readonly share: number }>;
}

/** Where a script URL belongs: the proxy, an npm package, Node itself, or V8's pseudo-frames. */
function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native/V8)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[1] ?? url.slice(5)}`;
  const own = /\/(?:dist|src)\/(.+?)\.[jt]s$/.exec(url);
  if (own) return `proxy ${own[1]}`;
  return url;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? `${url.replace(/^file:\/\/.*?\/(dist|src|node_modules)\//, "$1/").replace(/^node:internal\//, "node:")}:${lineNumber + 1}` : "";
  return `${functionName || "(anonymous)"}${where ? ` ${where}` : ""}`;
}

export function summarizeProfile(profile: CpuProfile, top = 20): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));

  let idleMs = 0;
  let busyMs = 0;
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, ms] of selfMs) {
    const node = byId.get(id);
    if (!node) continue;
    if (node.callFrame.functionName === "(idle)") {
      idleMs += ms;
      continue;
    }
    busyMs += ms;
    const name = label(node);
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
    const module = moduleOf(node.callFrame.url, node.callFrame.functionName);
    byModule.set(module, (byModule.get(module) ?? 0) + ms);
    // Inclusive time of the proxy's own functions: every own frame on this stack, once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at);
      if (!frame || !moduleOf(frame.callFrame.url, frame.callFrame.functionName).startsWith("proxy ")) continue;
      const frameName = label(frame);
      if (seen.has(frameName)) continue;
      seen.add(frameName);
      inclusive.set(frameName, (inclusive.get(frameName) ?? 0) + ms);
    }
  }
  const ranked = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms, share: busyMs > 0 ? ms / busyMs : 0 }));
  return { busyMs, idleMs, selfByFunction: ranked(byFunction), selfByModule: ranked(byModule), inclusiveOwnCode: ranked(inclusive) };
}

export function renderProfileSummary(summary: ProfileSummary): string {
  const percent = (share: number) => `${(share * 100).toFixed(1).padStart(5)}%`;
  const lines = [`  busy ${(summary.busyMs / 1000).toFixed(1)} s, idle ${(summary.idleMs / 1000).toFixed(1)} s (share of busy time below)`];
  lines.push("  self time by module:");
  for (const entry of summary.selfByModule) lines.push(`    ${percent(entry.share)}  ${entry.name}`);
  lines.push("  self time by function:");
  for (const entry of summary.selfByFunction) lines.push(`    ${percent(entry.share)}  ${entry.name}`);
  lines.push("  the proxy's own functions, inclusive time:");
  for (const entry of summary.inclusiveOwnCode) lines.push(`    ${percent(entry.share)}  ${entry.name}`);
  return lines.join("\n");
}

export function summarizeProfileFile(path: string, top = 20): ProfileSummary {
  return summarizeProfile(JSON.parse(readFileSync(path, "utf8")) as CpuProfile, top);
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: profile-summary.ts <file.cpuprofile> [top]\n");
    process.exit(2);
  }
  process.stdout.write(`${renderProfileSummary(summarizeProfileFile(file, Number(process.argv[3] ?? 20)))}\n`);
}
