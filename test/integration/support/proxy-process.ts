// Runs the proxy the way users do: a separate node process started from the
// CLI, listening on a fresh UNIX socket in front of a given daemon socket.
// A real process (not an in-process import) is what lets tests check signals,
// exit codes and log lines, and keeps a proxy crash from taking vitest down.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

export interface ProxyProcess {
  /** The proxy's listen socket. */
  socketPath: string;
  /** `unix://` + socketPath, for DOCKER_HOST. */
  dockerHost: string;
  child: ChildProcess;
  /** All stdout and stderr so far, interleaved as it arrived. */
  logs(): string;
  /** Sends `signal` (SIGTERM) and resolves with the exit code (null: killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ProxyProcessOptions {
  /** The daemon socket the proxy forwards to (`--ds`). */
  dockerSocket: string;
  /** The listen socket path (`--ls`); a fresh temp path when absent. */
  listenSocket?: string;
  /** More CLI arguments, after `--ds` and `--ls`. */
  args?: string[];
  /** Added to the inherited environment. */
  env?: Record<string, string>;
  /**
   * Run the compiled proxy (`node dist/cli.js`, as the package and the image
   * ship it) instead of the sources through tsx. For tests that measure the
   * process itself: tsx's loader adds about 33 MB of resident memory.
   * The global setup compiles dist/ before any test.
   */
  built?: boolean;
}

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CLI_ENTRY = join(REPO_ROOT, "src", "cli.ts");
const BUILT_CLI = join(REPO_ROOT, "dist", "cli.js");
const READY_TIMEOUT_MS = 20_000;
/** After stop()'s signal, how long before SIGKILL: a hung proxy must not hang the suite. */
const STOP_GRACE_MS = 10_000;
const LISTENING_MARK = '"msg":"listening"';

export function startProxyProcess(opts: ProxyProcessOptions): Promise<ProxyProcess> {
  return spawnProxy(opts.built ? BUILT_CLI : CLI_ENTRY, opts);
}

/** startProxyProcess with another entry file: lets the harness test itself. */
export async function spawnProxy(entry: string, opts: ProxyProcessOptions): Promise<ProxyProcess> {
  const dir = await mkdtemp(join(tmpdir(), "dcp-proxy-"));
  const socketPath = opts.listenSocket ?? join(dir, "proxy.sock");
  const child = spawn(
    process.execPath,
    [...(opts.built ? [] : ["--import", "tsx"]), entry, "--ds", opts.dockerSocket, "--ls", socketPath, ...(opts.args ?? [])],
    // cwd: `--import tsx` is resolved from there, i.e. from our node_modules.
    { cwd: REPO_ROOT, env: childEnv(opts.env), stdio: ["ignore", "pipe", "pipe"] },
  );
  live.add(child);

  let output = "";
  let stdoutLines = "";
  let sawListening = false;
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    output += chunk;
    // Match whole lines only, so a mark split across reads is still seen.
    stdoutLines += chunk;
    const lines = stdoutLines.split("\n");
    stdoutLines = lines.pop() ?? "";
    if (lines.some((line) => line.includes(LISTENING_MARK))) sawListening = true;
  });
  child.stderr?.on("data", (chunk: string) => {
    output += chunk;
  });
  // "close", not "exit": by then stdout and stderr are drained, so logs() is
  // complete when stop() resolves.
  const exited = new Promise<number | null>((resolve) => {
    child.once("close", (code) => {
      live.delete(child);
      resolve(code);
    });
    child.once("error", (err) => {
      output += `\n[spawn error] ${String(err)}\n`;
      live.delete(child);
      resolve(null);
    });
  });

  let stopping: Promise<number | null> | undefined;
  const proxy: ProxyProcess = {
    socketPath,
    dockerHost: `unix://${socketPath}`,
    child,
    logs: () => output,
    stop: (signal = "SIGTERM") => (stopping ??= stopChild(child, exited, signal, dir)),
  };

  try {
    await waitUntilListening(socketPath, () => sawListening, exited);
  } catch (err) {
    await proxy.stop("SIGKILL");
    throw new Error(`proxy did not start: ${(err as Error).message}\n--- proxy output ---\n${output}`, {
      cause: err,
    });
  }
  return proxy;
}

// The developer's own DCP_* settings must not change what a test runs.
function childEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("DCP_")) env[key] = value;
  }
  return { ...env, ...extra };
}

async function waitUntilListening(
  socketPath: string,
  sawListening: () => boolean,
  exited: Promise<number | null>,
): Promise<void> {
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`it exited with code ${exitCode}`);
    if (sawListening() && (await isSocket(socketPath))) return;
    await sleep(50);
  }
  throw new Error(
    `no ${LISTENING_MARK} line on stdout and socket ${socketPath} within ${READY_TIMEOUT_MS} ms ` +
      `(line seen: ${sawListening()}, socket exists: ${await isSocket(socketPath)})`,
  );
}

async function isSocket(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isSocket();
  } catch {
    return false;
  }
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<number | null>,
  signal: NodeJS.Signals,
  dir: string,
): Promise<number | null> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill(signal);
    const killTimer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(killTimer);
  }
  const code = await exited;
  await rm(dir, { recursive: true, force: true });
  return code;
}

// A test that throws before stop() must not leave a proxy running after the
// vitest worker exits.
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});
