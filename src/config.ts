/**
 * Command line and environment → configuration.
 *
 * The original tool's spellings (`--dockersocket, --ds`, `DCP_*`, …) are kept
 * exactly, so that it is a drop-in replacement; options it did not have use
 * kebab-case. Every option can come from the environment; the command line
 * wins. Boolean variables are read like Go's strconv.ParseBool (what the
 * original accepted): "1/t/true" and "0/f/false" in any case, anything else
 * is an error, never a silent "on".
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import type { CgroupParentSetting } from "./cgroup/cgroup-parent.js";
import { checkCgroupParentValueShape } from "./cgroup/explicit-value.js";
import { ConfigError } from "./errors.js";
import { defaultMaxBuffered } from "./pipeline/body-budget.js";
import { type MetricsAddress, parseMetricsAddress } from "./metrics/metrics-server.js";

export interface CliConfig {
  readonly debug: boolean;
  readonly dockerSocket: string;
  readonly listenSocket: string;
  /** off, detect (`--cgroupparent`) or an explicit value (`--cgroup-parent-value`). */
  readonly cgroupParent: CgroupParentSetting;
  readonly labels: ReadonlyMap<string, string>;
  readonly listenMode: number;
  readonly maxBodyBytes: number;
  /** `--max-buffered`: what all bodies buffered at once may hold (at least `maxBodyBytes`). */
  readonly maxBufferedBytes: number;
  readonly shutdownGraceMs: number;
  /** `--reap-on-exit`: after the drain on SIGTERM/SIGINT, remove what carries the labels. */
  readonly reapOnExit: boolean;
  /** `--log-format`: auto is pretty on a terminal, json otherwise. */
  readonly logFormat: LogFormat;
  /** `--metrics-listen`: where to serve Prometheus metrics, if anywhere. */
  readonly metricsListen: MetricsAddress | undefined;
  /** `--refuse-buildkit`: refuse BuildKit builds, whose frontend can leave the labels out. */
  readonly refuseBuildKit: boolean;
}

export type LogFormat = "auto" | "json" | "pretty";

/** `dockerd-ci-proxy reap`: the label filter is ALL configured labels. */
export interface ReapCliConfig {
  readonly dockerSocket: string;
  readonly labels: ReadonlyMap<string, string>;
  readonly images: boolean;
  readonly dryRun: boolean;
}

export type CliOutcome =
  | { kind: "run"; config: CliConfig }
  | { kind: "reap"; config: ReapCliConfig }
  | { kind: "exit"; code: number };

export const VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

export function parseCommandLine(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  output: { out(text: string): void; err(text: string): void },
): CliOutcome {
  const program = new Command()
    .name("dockerd-ci-proxy")
    .description("Docker daemon UNIX-socket proxy for CI: labels every resource its clients create, and can put child containers under the agent's cgroup parent.")
    .version(VERSION, "-v, --version", "print the version")
    .helpOption("-h, --help", "show help")
    .exitOverride()
    .configureOutput({ writeOut: output.out, writeErr: output.err })
    .showSuggestionAfterError(true)
    // Options before a subcommand are the proxy's, after it the subcommand's.
    .enablePositionalOptions()
    .addOption(new Option("-d, --debug", "debug mode: log every request head (credentials redacted) (env: DCP_DEBUG)"))
    .addOption(option("--ds, --dockersocket <path>", "the Docker daemon API UNIX socket to connect to", "DCP_DOCKER_SOCKET", "/var/run/docker.sock"))
    .addOption(
      option("--ls, --listensocket <path>", "the UNIX socket this proxy listens on; point Docker clients at it", "DCP_LISTEN_SOCKET", "/var/run/docker-ci-proxy.sock"),
    )
    .addOption(new Option("--cp, --cgroupparent", "put created containers under this container's cgroup parent (env: DCP_CGROUP_PARENT)"))
    .addOption(
      new Option(
        "--cgroup-parent-value <path>",
        "put created containers under this cgroup parent instead (an agent that is not a container): /group for the cgroupfs driver, name.slice for systemd (env: DCP_CGROUP_PARENT_VALUE)",
      ),
    )
    .addOption(
      new Option(
        "--metrics-listen <address>",
        "serve Prometheus metrics on GET /metrics at a socket path or host:port (:port is loopback) (env: DCP_METRICS_LISTEN)",
      ),
    )
    .addOption(
      option("--log-format <format>", "log lines as json, or pretty for people; auto: pretty on a terminal, json otherwise", "DCP_LOG_FORMAT", "auto"),
    )
    .addOption(option("--ln, --labelname <name>", "the label name to apply to created resources", "DCP_LABEL_NAME", "Created-Via"))
    .addOption(option("--lv, --labelvalue <value>", "the label value to apply to created resources", "DCP_LABEL_VALUE", "dockerd-ci-proxy"))
    .addOption(labelOption("an extra label for created resources"))
    .addOption(option("--listen-mode <octal>", "file mode of the listen socket; its group is the Docker socket's group", "DCP_LISTEN_MODE", "660"))
    .addOption(option("--max-body <bytes>", "largest request body the proxy buffers to rewrite (suffixes k, m, g)", "DCP_MAX_BODY", "16m"))
    .addOption(
      new Option(
        "--max-buffered <bytes>",
        "most request bytes buffered at once over all clients; a body that does not fit waits up to 30 s, then 503 (default: 4 × --max-body) (env: DCP_MAX_BUFFERED)",
      ),
    )
    .addOption(option("--shutdown-grace <seconds>", "how long SIGTERM/SIGINT waits for requests in flight", "DCP_SHUTDOWN_GRACE", "5"))
    .addOption(
      new Option(
        "--reap-on-exit",
        "on SIGTERM/SIGINT, after the drain, remove every resource that carries this proxy's labels (env: DCP_REAP_ON_EXIT)",
      ),
    )
    .addOption(
      new Option(
        "--refuse-buildkit",
        "refuse BuildKit builds (/build?version=2 and buildx's /grpc), whose frontend can leave the labels out; the classic builder still works (env: DCP_REFUSE_BUILDKIT)",
      ),
    );

  let outcome: CliOutcome | undefined;
  program.action(() => {
    outcome = proxyOutcome(program, env);
  });
  const reapCommand = program
    .command("reap")
    .description(
      "remove every resource that carries ALL the configured labels, on the daemon directly: services, containers (forced, with their anonymous volumes), networks, volumes, secrets, configs, and images with --images",
    )
    .addOption(option("--ds, --dockersocket <path>", "the Docker daemon API UNIX socket", "DCP_DOCKER_SOCKET", "/var/run/docker.sock"))
    .addOption(option("--ln, --labelname <name>", "the label name to look for", "DCP_LABEL_NAME", "Created-Via"))
    .addOption(option("--lv, --labelvalue <value>", "the label value to look for", "DCP_LABEL_VALUE", "dockerd-ci-proxy"))
    .addOption(labelOption("an extra label the resources must carry too"))
    .addOption(new Option("--images", "remove labelled images too"))
    .addOption(new Option("--dry-run", "list what would be removed, remove nothing"));
  reapCommand.action(() => {
    outcome = reapOutcome(reapCommand, env);
  });

  try {
    program.parse([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; usage errors exit 2 like other CLI tools.
      return { kind: "exit", code: error.exitCode === 0 ? 0 : 2 };
    }
    if (error instanceof ConfigError) {
      output.err(`error: ${error.message}\n`);
      return { kind: "exit", code: 2 };
    }
    throw error;
  }
  if (outcome === undefined) throw new Error("no command ran");
  return outcome;
}

/**
 * Environment values apply where the command line said nothing. (Commander's
 * own .env() reads process.env only, which would make this untestable.)
 */
function applyEnvironment(command: Command, env: NodeJS.ProcessEnv): void {
  for (const [name, variable] of ENV_OF) {
    const value = env[variable];
    if (command.getOptionValueSource(name) === "default" && value !== undefined) command.setOptionValueWithSource(name, value, "env");
  }
}

function labelOption(description: string): Option {
  return new Option("--label <key=value>", `${description}; repeatable (env: DCP_LABELS, comma-separated)`).argParser(
    (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
  );
}

function reapOutcome(command: Command, env: NodeJS.ProcessEnv): CliOutcome {
  applyEnvironment(command, env);
  const options = command.opts<{ dockersocket: string; labelname: string; labelvalue: string; label?: string[]; images?: boolean; dryRun?: boolean }>();
  return {
    kind: "reap",
    config: {
      dockerSocket: nonEmpty(options.dockersocket, "--dockersocket"),
      labels: labelMap(options.labelname, options.labelvalue, [...splitList(env["DCP_LABELS"]), ...(options.label ?? [])]),
      images: options.images ?? false,
      dryRun: options.dryRun ?? false,
    },
  };
}

function proxyOutcome(program: Command, env: NodeJS.ProcessEnv): CliOutcome {
  applyEnvironment(program, env);
  const options = program.opts<{
    debug?: boolean;
    dockersocket: string;
    listensocket: string;
    cgroupparent?: boolean;
    cgroupParentValue?: string;
    labelname: string;
    labelvalue: string;
    label?: string[];
    listenMode: string;
    maxBody: string;
    maxBuffered?: string;
    shutdownGrace: string;
    reapOnExit?: boolean;
    logFormat: string;
    metricsListen?: string;
    refuseBuildkit?: boolean;
  }>();
  return {
    kind: "run",
    config: {
      debug: options.debug ?? envBoolean(env, "DCP_DEBUG"),
      dockerSocket: nonEmpty(options.dockersocket, "--dockersocket"),
      listenSocket: nonEmpty(options.listensocket, "--listensocket"),
      cgroupParent: cgroupParentSetting(
        options.cgroupparent ?? envBoolean(env, "DCP_CGROUP_PARENT"),
        options.cgroupParentValue ?? (env["DCP_CGROUP_PARENT_VALUE"] || undefined),
      ),
      labels: labelMap(options.labelname, options.labelvalue, [...splitList(env["DCP_LABELS"]), ...(options.label ?? [])]),
      listenMode: fileMode(options.listenMode),
      ...bodyLimits(options.maxBody, options.maxBuffered ?? (env["DCP_MAX_BUFFERED"] || undefined)),
      shutdownGraceMs: seconds(options.shutdownGrace) * 1000,
      reapOnExit: options.reapOnExit ?? envBoolean(env, "DCP_REAP_ON_EXIT"),
      logFormat: logFormat(options.logFormat),
      metricsListen: metricsAddress(options.metricsListen ?? (env["DCP_METRICS_LISTEN"] || undefined)),
      refuseBuildKit: options.refuseBuildkit ?? envBoolean(env, "DCP_REFUSE_BUILDKIT"),
    },
  };
}

/** Option attribute → environment variable, for options that take a value. */
const ENV_OF = new Map<string, string>();

function option(flags: string, description: string, variable: string, defaultValue: string): Option {
  const created = new Option(flags, `${description} (env: ${variable})`).default(defaultValue);
  ENV_OF.set(created.attributeName(), variable);
  return created;
}

function metricsAddress(text: string | undefined): MetricsAddress | undefined {
  return text === undefined ? undefined : parseMetricsAddress(text);
}

function logFormat(text: string): LogFormat {
  if (text === "auto" || text === "json" || text === "pretty") return text;
  throw new ConfigError(`--log-format must be json, pretty or auto, not ${JSON.stringify(text)}`);
}

function envBoolean(env: NodeJS.ProcessEnv, name: string): boolean {
  const value = env[name];
  if (value === undefined || value === "") return false;
  if (/^(1|t|true)$/i.test(value)) return true;
  if (/^(0|f|false)$/i.test(value)) return false;
  throw new ConfigError(`${name} must be true or false, not ${JSON.stringify(value)}`);
}

/**
 * A value switches the feature on by itself: a parent given by hand and then
 * silently ignored (because --cgroupparent was forgotten) would let children
 * escape the agent's cgroup without anyone noticing.
 */
function cgroupParentSetting(detect: boolean, value: string | undefined): CgroupParentSetting {
  if (value !== undefined) return { mode: "explicit", value: checkCgroupParentValueShape(value) };
  return detect ? { mode: "detect" } : { mode: "off" };
}

function nonEmpty(value: string, option: string): string {
  if (value.length === 0) throw new ConfigError(`${option} must not be empty`);
  return value;
}

function splitList(value: string | undefined): string[] {
  return value ? value.split(",").filter((item) => item.trim().length > 0) : [];
}

function labelMap(name: string, value: string, extra: readonly string[]): Map<string, string> {
  const labels = new Map<string, string>();
  for (const entry of extra) {
    const equals = entry.indexOf("=");
    if (equals <= 0) throw new ConfigError(`--label ${JSON.stringify(entry)} must be key=value`);
    labels.set(checkedLabelText(entry.slice(0, equals).trim()), checkedLabelText(entry.slice(equals + 1)));
  }
  // The main label is set last: it wins over an extra one with the same key.
  labels.set(checkedLabelText(nonEmpty(name, "--labelname")), checkedLabelText(value));
  return labels;
}

function checkedLabelText(text: string): string {
  // A newline could not be carried in an import/commit "LABEL" change line.
  if (/[\r\n\0]/.test(text)) throw new ConfigError(`label ${JSON.stringify(text)} must not contain line breaks or NUL`);
  return text;
}

function fileMode(text: string): number {
  if (!/^0?[0-7]{3}$/.test(text)) throw new ConfigError(`--listen-mode must be an octal file mode like 660, not ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

function bodyLimits(maxBody: string, maxBuffered: string | undefined): { maxBodyBytes: number; maxBufferedBytes: number } {
  const maxBodyBytes = byteSize(maxBody, "--max-body");
  if (maxBuffered === undefined) return { maxBodyBytes, maxBufferedBytes: defaultMaxBuffered(maxBodyBytes) };
  const maxBufferedBytes = byteSize(maxBuffered, "--max-buffered");
  // A body the budget can never hold would be refused whatever the load.
  if (maxBufferedBytes < maxBodyBytes) throw new ConfigError(`--max-buffered (${maxBuffered}) must be at least --max-body (${maxBody})`);
  return { maxBodyBytes, maxBufferedBytes };
}

function byteSize(text: string, option: string): number {
  const match = /^([0-9]+)([kmg]?)b?$/i.exec(text.trim());
  if (!match) throw new ConfigError(`${option} must be a size like 16m, not ${JSON.stringify(text)}`);
  const scale = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2]!.toLowerCase() as "" | "k" | "m" | "g"];
  const bytes = Number(match[1]) * scale;
  if (bytes < 1024) throw new ConfigError(`${option} must be at least 1k`);
  return bytes;
}

function seconds(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new ConfigError(`--shutdown-grace must be a number of seconds, not ${JSON.stringify(text)}`);
  return value;
}
