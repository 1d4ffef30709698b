// Runs a real client program (docker, docker-compose, script) as a child
// process, with a hard timeout, and hands back its exit status and output as
// text. Non-zero exits are results, not errors: tests assert exit codes.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Keep stdin an open pipe until the program exits (no EOF, as from a terminal). */
  holdStdin?: boolean;
  /** The program is killed (SIGKILL) after this long. */
  timeoutMs: number;
}

/** A started program: its output so far, and ways to wait for more or to end it. */
export class RunningCommand {
  private out = "";
  private err = "";
  private listeners: Array<() => void> = [];
  private timedOut = false;
  readonly child: ChildProcess;
  readonly exited: Promise<CommandResult>;

  constructor(
    private readonly description: string,
    file: string,
    args: readonly string[],
    options: CommandOptions,
  ) {
    const stdinMode = options.input !== undefined || options.holdStdin ? "pipe" : "ignore";
    this.child = spawn(file, args, { env: options.env, cwd: options.cwd, stdio: [stdinMode, "pipe", "pipe"] });
    this.child.stdout?.setEncoding("utf8");
    this.child.stderr?.setEncoding("utf8");
    this.child.stdout?.on("data", (chunk: string) => {
      this.out += chunk;
      this.notify();
    });
    this.child.stderr?.on("data", (chunk: string) => (this.err += chunk));
    // EPIPE when the program exits without reading all of its input.
    this.child.stdin?.on("error", () => {});
    if (options.input !== undefined) this.child.stdin?.end(options.input);
    const timer = setTimeout(() => {
      this.timedOut = true;
      this.child.kill("SIGKILL");
    }, options.timeoutMs);
    this.exited = new Promise((resolve, reject) => {
      this.child.once("error", (error) => {
        clearTimeout(timer);
        reject(new Error(`${description}: ${error.message}`, { cause: error }));
      });
      this.child.once("close", (code, signal) => {
        clearTimeout(timer);
        this.child.stdin?.destroy();
        this.notify();
        resolve({ code, signal, stdout: this.out, stderr: this.err });
      });
    });
  }

  get stdout(): string {
    return this.out;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The result; fails if the program had to be killed for its timeout. */
  async result(): Promise<CommandResult> {
    const result = await this.exited;
    if (this.timedOut) throw new Error(`${this.description} timed out\n${this.report(result)}`);
    return result;
  }

  /** Resolves once stdout satisfies `predicate`; fails if the program exits first or time runs out. */
  async waitForStdout(predicate: (stdout: string) => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.out)) {
      const left = deadline - Date.now();
      if (left <= 0 || !this.running) {
        const why = left <= 0 ? `nothing matching within ${timeoutMs} ms` : "it exited first";
        throw new Error(`${this.description}: ${why}\nstdout: ${this.out}\nstderr: ${this.err}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Ends a program that would run forever (`logs -f`, `events`). */
  async stop(): Promise<CommandResult> {
    if (this.running) this.child.kill("SIGTERM");
    return this.exited;
  }

  report(result: CommandResult): string {
    return `exit ${result.code ?? result.signal}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
  }

  private notify(): void {
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
  }
}

export function startCommand(file: string, args: readonly string[], options: CommandOptions): RunningCommand {
  return new RunningCommand(`${file} ${args.join(" ")}`, file, args, options);
}

export function runCommand(file: string, args: readonly string[], options: CommandOptions): Promise<CommandResult> {
  return startCommand(file, args, options).result();
}

/** Like runCommand, but a non-zero exit fails with the program's output. */
export async function runOk(file: string, args: readonly string[], options: CommandOptions): Promise<CommandResult> {
  const command = startCommand(file, args, options);
  const result = await command.result();
  if (result.code !== 0) throw new Error(`${file} ${args.join(" ")} failed\n${command.report(result)}`);
  return result;
}

/** Whether `path` is an executable file. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable called `name` on PATH, like `command -v`. */
export function findOnPath(name: string): string | undefined {
  const dirs = (process.env["PATH"] ?? "").split(delimiter).filter((dir) => dir !== "");
  return dirs.map((dir) => join(dir, name)).find(isExecutable);
}

/**
 * The environment for a Docker client aimed at `dockerHost` and nothing else:
 * no context, TLS or user config from the developer's environment.
 */
export function dockerClientEnv(dockerHost: string, dockerConfigDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: dockerHost, DOCKER_CONFIG: dockerConfigDir, ...extra };
  for (const key of ["DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION"]) delete env[key];
  return env;
}
