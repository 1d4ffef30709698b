// startDind() in a child process. testcontainers caches its Docker client per
// process: a test file that drives testcontainers THROUGH the proxy must not
// have used it for the dind (on the outer daemon) first, or the cached client
// would quietly keep talking to the outer daemon.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

export interface ChildDind {
  socketPath: string;
  dockerHost: string;
  /** Stops the dind (the child removes it) and waits for the child to exit. */
  stop(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const RUNNER = fileURLToPath(new URL("./dind-runner.ts", import.meta.url));
const STOP_TIMEOUT_MS = 60_000;

/** `outerDockerHost`: the daemon that runs the dind (the child's DOCKER_HOST). */
export async function startChildDind(outerDockerHost: string | undefined): Promise<ChildDind> {
  const env = { ...process.env };
  if (outerDockerHost === undefined) delete env["DOCKER_HOST"];
  else env["DOCKER_HOST"] = outerDockerHost;
  const child = spawn(process.execPath, ["--import", "tsx", RUNNER], {
    cwd: REPO_ROOT,
    env,
    // stdin is a pipe so that the dind goes away with this process, whatever kills it.
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => (stderr += chunk));
  const exited = once(child, "close");

  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, "line").then(([line]) => line as string),
    exited.then(() => undefined),
  ]);
  if (first === undefined) throw new Error(`the dind child exited before it was ready:\n${stderr}`);
  const { socketPath } = JSON.parse(first) as { socketPath: string };

  let stopping: Promise<void> | undefined;
  return {
    socketPath,
    dockerHost: `unix://${socketPath}`,
    stop: () =>
      (stopping ??= (async () => {
        child.stdin.end();
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      })()),
  };
}
