/**
 * The things measured side by side, all in front of the same upstream socket:
 *
 *   direct   the upstream socket itself (the baseline of every ratio)
 *   proxy    dockerd-ci-proxy, a child process on a temporary socket
 *   node-pipe  a blind Node.js byte copy (bench/node-pipe.ts): the floor of any Node relay
 *   socat    socat UNIX-LISTEN:…,fork,reuseaddr,backlog=128 UNIX-CONNECT:… (one process per connection)
 *   haproxy  HAProxy in `mode http` with a unix bind and a unix server
 *
 * A relay whose program is not installed is skipped (and said so).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, closeSync, constants, openSync, readFileSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { requestOnce } from "./http-client.js";

export const TARGET_NAMES = ["direct", "proxy", "node-pipe", "socat", "haproxy"] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export interface Target {
  readonly name: TargetName;
  readonly socketPath: string;
  /** The process whose memory and CPU are sampled (undefined: direct, socat's per-connection children). */
  readonly statsPid: number | undefined;
}

export interface Skipped {
  readonly name: TargetName;
  readonly reason: string;
}

export interface TargetSet {
  readonly upstream: string;
  readonly targets: readonly Target[];
  readonly skipped: readonly Skipped[];
  stop(): Promise<void>;
}

export interface ProxyCommand {
  /** Node options before the script (e.g. --import tsx, --cpu-prof). */
  readonly nodeArgs: readonly string[];
  readonly script: string;
}

export interface TargetOptions {
  readonly upstream: string;
  /** Short label used in file names (daemon, synthetic). */
  readonly label: string;
  readonly dir: string;
  readonly names: readonly TargetName[];
  readonly proxy: ProxyCommand;
  /** Where the proxy's stdout (JSON logs, one line per request) goes. */
  readonly proxyLog: string;
}

export async function startTargets(options: TargetOptions): Promise<TargetSet> {
  const targets: Target[] = [];
  const skipped: Skipped[] = [];
  const children: Array<{ child: ChildProcess; group: boolean }> = [];
  const stop = async () => {
    await Promise.all(children.map(({ child, group }) => stopChild(child, group)));
  };
  try {
    for (const name of options.names) {
      const socketPath = join(options.dir, `${options.label}-${name}.sock`);
      switch (name) {
        case "direct":
          targets.push({ name, socketPath: options.upstream, statsPid: undefined });
          break;
        case "proxy": {
          const child = startProxy(options, socketPath);
          children.push({ child, group: false });
          await waitReady(socketPath, child, "dockerd-ci-proxy", join(options.dir, `${options.label}-proxy.stderr`));
          targets.push({ name, socketPath, statsPid: child.pid });
          break;
        }
        case "node-pipe": {
          const script = fileURLToPath(new URL("./node-pipe.ts", import.meta.url));
          const child = spawn(process.execPath, ["--import", "tsx", script, socketPath, options.upstream], {
            stdio: ["ignore", "ignore", "pipe"],
          });
          children.push({ child, group: false });
          await waitReady(socketPath, child, "node-pipe");
          targets.push({ name, socketPath, statsPid: child.pid });
          break;
        }
        case "socat": {
          const program = which("socat");
          if (!program) {
            skipped.push({ name, reason: "socat is not installed" });
            break;
          }
          // Its own process group: stopping it also stops the children it forked per connection.
          // backlog: socat's default of 5 refuses (EAGAIN) 16 clients connecting at once.
          const child = spawn(program, [`UNIX-LISTEN:${socketPath},fork,reuseaddr,backlog=128`, `UNIX-CONNECT:${options.upstream}`], {
            stdio: ["ignore", "ignore", "pipe"],
            detached: true,
          });
          children.push({ child, group: true });
          await waitReady(socketPath, child, "socat");
          targets.push({ name, socketPath, statsPid: undefined });
          break;
        }
        case "haproxy": {
          const program = which("haproxy");
          if (!program) {
            skipped.push({ name, reason: "haproxy is not installed" });
            break;
          }
          const config = join(options.dir, `${options.label}-haproxy.cfg`);
          writeFileSync(config, haproxyConfig(socketPath, options.upstream));
          const child = spawn(program, ["-db", "-q", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
          children.push({ child, group: false });
          await waitReady(socketPath, child, "haproxy");
          targets.push({ name, socketPath, statsPid: child.pid });
          break;
        }
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { upstream: options.upstream, targets, skipped, stop };
}

function startProxy(options: TargetOptions, socketPath: string): ChildProcess {
  const out = openSync(options.proxyLog, "a");
  const err = openSync(join(options.dir, `${options.label}-proxy.stderr`), "a");
  // The proxy reads DCP_* variables: only the command line may configure it here.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("DCP_")));
  const child = spawn(process.execPath, [...options.proxy.nodeArgs, options.proxy.script, "--ds", options.upstream, "--ls", socketPath], {
    stdio: ["ignore", out, err],
    env,
  });
  closeSync(out);
  closeSync(err);
  return child;
}

/**
 * A minimal HAProxy: HTTP mode so that it parses and re-frames every message
 * like the proxy does, keep-alive on both sides, idle server connections
 * reused between requests ("safe": never across clients mid-exchange).
 */
export function haproxyConfig(listen: string, upstream: string): string {
  return `global
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 60s
    option http-keep-alive
    http-reuse safe

frontend bench
    bind unix@${listen} mode 600
    default_backend daemon

backend daemon
    server upstream unix@${upstream}
`;
}

/** Polls the socket with GET /_ping until it answers 200; fails fast if the relay died. */
async function waitReady(socketPath: string, child: ChildProcess, what: string, stderrFile?: string): Promise<void> {
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString();
  });
  let lastError = "";
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    try {
      const response = await requestOnce(socketPath, { method: "GET", path: "/_ping", timeoutMs: 2000 });
      if (response.status === 200) return;
      lastError = `status ${response.status}`;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await sleep(50);
  }
  if (stderrFile) {
    try {
      stderr += readFileSync(stderrFile, "utf8");
    } catch {
      // no stderr file
    }
  }
  throw new Error(`${what} did not become ready on ${socketPath}: ${lastError}${stderr ? `\n${stderr.trim()}` : ""}`);
}

export async function stopChild(child: ChildProcess, group: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const signal = (name: NodeJS.Signals) => {
    try {
      // Only processes this benchmark started: the child itself, or its own group.
      process.kill(group ? -child.pid! : child.pid!, name);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  const timeout = sleep(5000).then(() => "timeout" as const);
  if ((await Promise.race([exited, timeout])) === "timeout") {
    signal("SIGKILL");
    await Promise.race([exited, sleep(2000)]);
  }
}

export function which(program: string): string | undefined {
  const path = `${process.env["PATH"] ?? ""}${delimiter}/usr/local/sbin${delimiter}/usr/sbin${delimiter}/sbin`;
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
