/**
 * `npm run bench`: dockerd-ci-proxy against the direct daemon socket, socat
 * and HAProxy, all measured in the same run, interleaved round by round.
 * See docs/benchmarks.md. Exit code: 0 whatever the numbers (the targets are
 * informational), 1 when the benchmark itself cannot run (no daemon, …).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { checkDaemon, createFileContainer, daemonSocketFromEnv, IMAGE, imageExists, removeBenchContainers, tarOfOneFile } from "./docker.js";
import { type BenchOptions, parseOptions, USAGE } from "./options.js";
import { PingPool } from "./ping-pool.js";
import { memoryStatus } from "./proc.js";
import { renderProfileSummary, summarizeProfileFile } from "./profile-summary.js";
import {
  type Check,
  evaluateTargets,
  renderChecks,
  renderFloorComparison,
  renderMarkdown,
  renderTable,
  summarize,
  type WorkloadResult,
} from "./report.js";
import { type ProxyCommand, type Skipped, startTargets, stopChild, type TargetSet } from "./targets.js";
import {
  createRemoveWorkload,
  downloadWorkload,
  pingWorkload,
  relayGetWorkload,
  relayPutWorkload,
  runInterleaved,
  uploadWorkload,
  type Workload,
  type WorkloadId,
} from "./workloads.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Nothing in the benchmark may run longer than this, whatever hangs. */
const RUN_DEADLINE_MS = 20 * 60 * 1000;

const say = (line = "") => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    const parsed = parseOptions(process.argv.slice(2));
    if (parsed === "help") {
      say(USAGE);
      return 0;
    }
    options = parsed;
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }

  const daemonSocket = daemonSocketFromEnv(process.env);
  if (daemonSocket.note) say(`note: ${daemonSocket.note}`);
  let daemon;
  try {
    daemon = await checkDaemon(daemonSocket.path);
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }

  const proxyCommand = prepareProxy(options);
  const dir = mkdtempSync("/tmp/dcp-bench-"); // UNIX socket paths must stay short
  const proxyLog = options.proxyLog ?? join(dir, "proxy.log");
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) {
      try {
        await step();
      } catch (error) {
        say(`cleanup: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    cleanups.length = 0;
  };
  const deadline = setTimeout(() => {
    process.stderr.write(`bench: still running after ${RUN_DEADLINE_MS / 60000} min; giving up\n`);
    void cleanup().finally(() => process.exit(1));
  }, RUN_DEADLINE_MS);
  deadline.unref();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal}, cleaning up\n`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  cleanups.push(async () => {
    if (options.keep) say(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  const started = new Date();
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "?",
    memoryGB: Math.round(totalmem() / 1e9),
    kernel: release(),
    node: process.version,
  };
  say(`dockerd-ci-proxy benchmark — ${started.toISOString()}`);
  say(`machine: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGB} GB RAM, Linux ${machine.kernel}, Node ${machine.node}`);
  say(`daemon: ${daemon.socketPath} (Docker ${daemon.version}, API ${daemon.apiVersion})`);
  const source = sourceVersion();
  say(`proxy: node ${[...proxyCommand.nodeArgs, proxyCommand.script].join(" ")} (commit ${source}; logs to ${proxyLog})`);
  const { rounds, transferRounds } = options.settings;
  say(`mode: ${options.quick ? "quick" : "default"}, ${rounds} rounds (${transferRounds} for large transfers), targets ${options.targets.join(", ")}`);
  const loadBefore = loadavg();
  say(`load average before: ${loadBefore.map((value) => value.toFixed(2)).join(" ")} (other work on the machine skews every target; interleaving spreads it)`);
  say();

  const results = new Map<WorkloadId, WorkloadResult>();
  const skipped: Skipped[] = [];
  const skippedWorkloads: Array<{ id: WorkloadId; reason: string }> = [];
  const idleRss: Record<string, number> = {};
  let checks: Check[] = [];
  try {
    const wants = (id: WorkloadId) => options.workloads.includes(id);
    const daemonIds = options.workloads.filter((id) => !id.startsWith("relay-"));
    const syntheticIds = options.workloads.filter((id) => id.startsWith("relay-"));

    // --- the daemon's targets ---
    let daemonTargets: TargetSet | undefined;
    if (daemonIds.length > 0) {
      daemonTargets = await startTargets({ upstream: daemon.socketPath, label: "daemon", dir, names: options.targets, proxy: proxyCommand, proxyLog });
      cleanups.push(() => daemonTargets!.stop());
      skipped.push(...daemonTargets.skipped);
    }
    // --- the synthetic upstream and its targets ---
    let syntheticTargets: TargetSet | undefined;
    if (syntheticIds.length > 0) {
      const upstream = join(dir, "fake-upstream.sock");
      const fake = await startFakeUpstream(upstream);
      cleanups.push(() => stopChild(fake, false));
      syntheticTargets = await startTargets({ upstream, label: "synthetic", dir, names: options.targets, proxy: proxyCommand, proxyLog });
      cleanups.push(() => syntheticTargets!.stop());
      if (!daemonTargets) skipped.push(...syntheticTargets.skipped);
    }
    for (const skip of skipped) say(`skipped ${skip.name}: ${skip.reason}`);
    for (const [label, set] of [["daemon", daemonTargets], ["synthetic", syntheticTargets]] as const) {
      const pid = set?.targets.find((target) => target.name === "proxy")?.statsPid;
      const status = pid !== undefined ? memoryStatus(pid) : undefined;
      if (status) idleRss[label] = status.rssBytes;
    }

    // --- fixtures ---
    const workloads: Workload[] = [];
    let pool: PingPool | undefined;
    if (wants("ping-1") || wants("ping-16")) {
      pool = await PingPool.start(options.pingWorkers);
      const workers = pool;
      cleanups.push(() => workers.close());
      if (wants("ping-1")) workloads.push(pingWorkload("ping-1", 1, pool, options.settings));
      if (wants("ping-16")) workloads.push(pingWorkload("ping-16", 16, pool, options.settings));
    }
    const containerIds = (["create-remove", "download", "upload"] as const).filter(wants);
    if (containerIds.length > 0) {
      if (!(await imageExists(daemon.socketPath, IMAGE))) {
        for (const id of containerIds) skippedWorkloads.push({ id, reason: `image ${IMAGE} is not in the daemon` });
      } else {
        await removeBenchContainers(daemon.socketPath);
        cleanups.push(async () => {
          await removeBenchContainers(daemon.socketPath);
        });
        if (wants("create-remove")) workloads.push(createRemoveWorkload(options.settings));
        if (wants("download") || wants("upload")) {
          say(`preparing a container with a ${options.settings.transferBytes / 1024 / 1024} MiB file…`);
          const id = await createFileContainer(daemon.socketPath, options.settings.transferBytes);
          if (wants("download")) workloads.push(downloadWorkload(options.settings, id));
          if (wants("upload")) workloads.push(uploadWorkload(options.settings, id, tarOfOneFile("bench-upload.bin", options.settings.transferBytes)));
        }
      }
    }
    for (const skip of skippedWorkloads) say(`skipped workload ${skip.id}: ${skip.reason}`);
    if (syntheticTargets) {
      if (wants("relay-get")) workloads.push(relayGetWorkload(options.settings));
      if (wants("relay-put")) workloads.push(relayPutWorkload(options.settings));
    }

    // --- measure ---
    for (const workload of workloads) {
      const set = workload.upstream === "daemon" ? daemonTargets : syntheticTargets;
      if (!set) continue;
      say(`${workload.title}:`);
      const samples = await runInterleaved(workload, set.targets, say);
      results.set(workload.id, summarize(workload, samples));
    }
  } catch (error) {
    say(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    await cleanup();
    return 1;
  }

  // Stop everything first: the CPU profiles are written when the proxies exit.
  await cleanup();

  say();
  say("=== results ===");
  for (const result of results.values()) {
    say(renderTable(result));
    say();
  }
  const proxyPeaks = [...results.values()].flatMap((result) =>
    result.targets.filter((target) => target.name === "proxy" && target.peakRssBytes !== undefined).map((target) => target.peakRssBytes!),
  );
  const proxyPeak = proxyPeaks.length > 0 ? Math.max(...proxyPeaks) : undefined;
  say(
    `proxy RSS: idle ${Object.entries(idleRss)
      .map(([label, bytes]) => `${(bytes / 1e6).toFixed(0)} MB (${label})`)
      .join(", ")}; peak over all workloads ${proxyPeak !== undefined ? `${(proxyPeak / 1e6).toFixed(0)} MB` : "-"}`,
  );
  say();
  const floor = renderFloorComparison(results);
  if (floor) {
    say("against the floor of any Node.js relay (node-pipe):");
    say(floor);
    say();
  }
  checks = evaluateTargets(results, proxyPeak);
  say("performance targets (informational):");
  say(renderChecks(checks));

  let profiles: Array<{ file: string; summary: ReturnType<typeof summarizeProfileFile> }> = [];
  if (options.cpuProfDir) {
    profiles = readdirSync(options.cpuProfDir)
      .filter((name) => name.endsWith(".cpuprofile"))
      .map((name) => join(options.cpuProfDir!, name))
      .map((file) => ({ file, summary: summarizeProfileFile(file) }));
    for (const { file, summary } of profiles) {
      say();
      say(`CPU profile ${file}:`);
      say(renderProfileSummary(summary));
    }
  }

  const finished = new Date();
  const loadAfter = loadavg();
  say();
  say(`load average after: ${loadAfter.map((value) => value.toFixed(2)).join(" ")}`);
  say(`finished in ${((finished.getTime() - started.getTime()) / 1000).toFixed(0)} s`);
  if (options.json) {
    writeFileSync(
      options.json,
      JSON.stringify(
        {
          started: started.toISOString(),
          finished: finished.toISOString(),
          machine,
          loadAverage: { before: loadBefore, after: loadAfter },
          daemon,
          proxy: { ...proxyCommand, source },
          options: { quick: options.quick, workloads: options.workloads, targets: options.targets, settings: options.settings },
          skipped: { targets: skipped, workloads: skippedWorkloads },
          results: [...results.values()],
          proxyRss: { idle: idleRss, peak: proxyPeak },
          checks,
          profiles,
        },
        (_key, value: unknown) => (typeof value === "number" && !Number.isFinite(value) ? null : value),
        2,
      ),
    );
    say(`wrote ${options.json}`);
  }
  if (options.markdown) {
    writeFileSync(options.markdown, [...results.values()].map(renderMarkdown).join("\n\n") + "\n");
    say(`wrote ${options.markdown}`);
  }
  return 0;
}

/** Builds dist/ (unless --no-build) and says how to start the proxy. */
function prepareProxy(options: BenchOptions): ProxyCommand {
  const nodeArgs = options.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${resolve(options.cpuProfDir)}`] : [];
  if (options.build) {
    say("building (npm run build)…");
    const build = spawnSync("npm", ["run", "build"], { cwd: ROOT, encoding: "utf8", timeout: 180_000 });
    if (build.status !== 0) {
      say(`warning: npm run build failed (status ${build.status}); using whatever dist/ holds`);
      say((build.stdout + build.stderr).trim().split("\n").slice(-10).join("\n"));
    }
  }
  const dist = join(ROOT, "dist", "cli.js");
  if (existsSync(dist)) return { nodeArgs, script: dist };
  say("warning: dist/cli.js missing; running the proxy from src/ through tsx");
  return { nodeArgs: [...nodeArgs, "--import", "tsx"], script: join(ROOT, "src", "cli.ts") };
}

/** The commit measured, and whether src/ had uncommitted changes (read-only git calls). */
function sourceVersion(): string {
  const git = (args: string[]) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8", timeout: 10_000 });
  const head = git(["rev-parse", "--short", "HEAD"]);
  if (head.status !== 0) return "unknown";
  // --no-optional-locks: never touch .git/index (others may be committing).
  const dirty = git(["--no-optional-locks", "status", "--porcelain", "--", "src"]).stdout.trim().length > 0;
  return `${head.stdout.trim()}${dirty ? " + uncommitted src/ changes" : ""}`;
}

/** The synthetic upstream in a process of its own; resolves once it listens. */
function startFakeUpstream(socketPath: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "bench", "fake-upstream.ts"), socketPath], {
    stdio: ["ignore", "pipe", "pipe"],
    cwd: ROOT,
  });
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the synthetic upstream did not start: ${output}`));
    }, 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("ready")) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the synthetic upstream exited (${code}): ${output}`));
    });
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
