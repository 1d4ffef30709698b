/**
 * Command-line options of `npm run bench -- [options]`.
 */
import { parseArgs } from "node:util";
import { TARGET_NAMES, type TargetName } from "./targets.js";
import { WORKLOAD_IDS, type WorkloadId, type WorkloadSettings } from "./workloads.js";

export interface BenchOptions {
  readonly quick: boolean;
  readonly json: string | undefined;
  readonly markdown: string | undefined;
  readonly workloads: readonly WorkloadId[];
  /** Always starts with "direct": the baseline of every ratio. */
  readonly targets: readonly TargetName[];
  readonly build: boolean;
  readonly proxyLog: string | undefined;
  readonly cpuProfDir: string | undefined;
  readonly pingWorkers: number;
  readonly keep: boolean;
  readonly settings: WorkloadSettings;
}

export const USAGE = `usage: npm run bench -- [options]

Measures dockerd-ci-proxy against the direct daemon socket, a blind Node.js
byte copy (node-pipe: the floor of any Node relay), socat and HAProxy,
interleaved in one run. The daemon is $DOCKER_HOST (unix://) or /var/run/docker.sock.

  --quick               fewer rounds and smaller transfers (about a minute)
  --rounds <n>          rounds per workload (default: 5 for _ping and create+remove,
                        3 for the large transfers; quick: 3)
  --only <ids>          comma-separated workloads: ${WORKLOAD_IDS.join(", ")}
  --targets <names>     comma-separated relays besides direct: proxy, node-pipe, socat, haproxy
  --json <file>         also write every sample and result as JSON
  --markdown <file>     also write the result tables as Markdown
  --no-build            do not run \`npm run build\` first
  --proxy-log <file>    the proxy's stdout (JSON request logs); default: a file in the temp dir
  --cpu-prof <dir>      run the proxies under \`node --cpu-prof\` and summarize the profiles
  --ping-workers <n>    worker threads generating the _ping load (default 2)
  --keep                keep the temp dir (sockets, configs, logs)
  -h, --help            this text
`;

export function parseOptions(argv: readonly string[]): BenchOptions | "help" {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: "boolean", default: false },
      rounds: { type: "string" },
      only: { type: "string" },
      targets: { type: "string" },
      json: { type: "string" },
      markdown: { type: "string" },
      "no-build": { type: "boolean", default: false },
      "proxy-log": { type: "string" },
      "cpu-prof": { type: "string" },
      "ping-workers": { type: "string" },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return "help";
  const quick = values.quick === true;
  const rounds = positiveInteger(values.rounds, quick ? 3 : 5, "--rounds");
  const transferRounds = positiveInteger(values.rounds, 3, "--rounds");
  const workloads = values.only === undefined ? [...WORKLOAD_IDS] : listOf(values.only, WORKLOAD_IDS, "--only");
  const relays = values.targets === undefined ? TARGET_NAMES.filter((name) => name !== "direct") : listOf(values.targets, TARGET_NAMES, "--targets");
  const MiB = 1024 * 1024;
  return {
    quick,
    json: values.json,
    markdown: values.markdown,
    workloads,
    targets: ["direct", ...relays.filter((name) => name !== "direct")],
    build: values["no-build"] !== true,
    proxyLog: values["proxy-log"],
    cpuProfDir: values["cpu-prof"],
    pingWorkers: positiveInteger(values["ping-workers"], 2, "--ping-workers"),
    keep: values.keep === true,
    settings: {
      rounds,
      transferRounds,
      pingWarmupMs: 250,
      pingDurationMs: quick ? 750 : 1000,
      createCount: quick ? 10 : 30,
      transferBytes: (quick ? 64 : 256) * MiB,
      syntheticBytes: (quick ? 256 : 1024) * MiB,
    },
  };
}

function positiveInteger(text: string | undefined, fallback: number, option: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${option} must be a positive integer, not ${JSON.stringify(text)}`);
  return value;
}

function listOf<T extends string>(text: string, allowed: readonly T[], option: string): T[] {
  const items = text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) throw new Error(`${option}: unknown ${JSON.stringify(item)} (choose from ${allowed.join(", ")})`);
  }
  return items as T[];
}
