// The reaper: `dockerd-ci-proxy reap` removes, on the daemon directly,
// everything made through a proxy with the given labels (every kind, swarm
// objects included), and nothing made beside it: not what was made directly
// on the daemon, not what another proxy (another --labelvalue) made.
// `--reap-on-exit` does the same for a proxy's own labels when it stops.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "./support/wait-for.js";
import { BUSYBOX_IMAGE, type Dind, dockerApi, startDind } from "./support/dind.js";
import { type ProxyProcess, startProxyProcess } from "./support/proxy-process.js";
import { dockerClientEnv, isExecutable, runOk } from "./support/clients/commands.js";
import { containerIdsWithLabels, exists, getJson } from "./support/labels/daemon-state.js";

const CLI = "/usr/bin/docker";
const TIMEOUT_MS = 60_000;
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

let dind: Dind;
let proxy: ProxyProcess;
let other: ProxyProcess;
let work: string;

beforeAll(async () => {
  dind = await startDind();
  work = await mkdtemp(join(tmpdir(), "dcp-reaper-"));
  await mkdir(join(work, "docker-config"));
  proxy = await startProxyProcess({ dockerSocket: dind.socketPath });
  other = await startProxyProcess({ dockerSocket: dind.socketPath, args: ["--lv", "other-job"] });
});

afterAll(async () => {
  await proxy?.stop();
  await other?.stop();
  await dind?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const docker = (dockerHost: string, args: string[], input?: string) =>
  runOk(CLI, args, { env: dockerClientEnv(dockerHost, join(work, "docker-config")), timeoutMs: TIMEOUT_MS, ...(input === undefined ? {} : { input }) });

/** `dockerd-ci-proxy reap …` against the inner daemon directly. */
function reapCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("DCP_")) env[key] = value;
    const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "src", "cli.ts"), "reap", "--ds", dind.socketPath, ...args], {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Made {
  /** Inspect path on the daemon → what it is, for messages. */
  paths: Map<string, string>;
  anonymousVolume: string;
  serviceName: string;
}

/** One of each kind, named `${prefix}-…`, created through `dockerHost`. */
async function makeOneOfEach(dockerHost: string, prefix: string): Promise<Made> {
  const run = (args: string[], input?: string) => docker(dockerHost, args, input);
  await run(["network", "create", `${prefix}-net`]);
  // Running, on the network, with an anonymous volume (not labelled itself: removed with its container).
  await run(["run", "-d", "--name", `${prefix}-run`, "--network", `${prefix}-net`, "-v", "/data", BUSYBOX_IMAGE, "sleep", "300"]);
  await run(["create", "--name", `${prefix}-stopped`, BUSYBOX_IMAGE, "true"]);
  await run(["volume", "create", `${prefix}-vol`]);
  await run(["commit", `${prefix}-stopped`, `${prefix}-img:latest`]);
  const serviceName = `${prefix}-svc`;
  await run(["service", "create", "--detach", "--no-resolve-image", "--stop-grace-period", "1s", "--name", serviceName, BUSYBOX_IMAGE, "sleep", "300"]);
  await run(["secret", "create", `${prefix}-secret`, "-"], "s3cr3t");
  await run(["config", "create", `${prefix}-config`, "-"], "k=v\n");
  const inspect = await getJson<{ Mounts: Array<{ Type: string; Name?: string; Destination: string }> }>(dind.socketPath, `/containers/${prefix}-run/json`);
  const anonymousVolume = inspect.Mounts.find((mount) => mount.Destination === "/data")?.Name;
  if (!anonymousVolume) throw new Error(`${prefix}-run has no anonymous volume: ${JSON.stringify(inspect.Mounts)}`);
  // The task container exists before any reap: the reaper must deal with it.
  await waitFor(`a task container of ${serviceName}`, async () => {
    const ids = await containerIdsWithLabels(dind.socketPath, `com.docker.swarm.service.name=${serviceName}`);
    return ids.length > 0 ? ids : undefined;
  });
  const paths = new Map([
    [`/networks/${prefix}-net`, "network"],
    [`/containers/${prefix}-run/json`, "running container"],
    [`/containers/${prefix}-stopped/json`, "stopped container"],
    [`/volumes/${prefix}-vol`, "volume"],
    [`/volumes/${anonymousVolume}`, "anonymous volume"],
    [`/images/${prefix}-img:latest/json`, "image"],
    [`/services/${serviceName}`, "service"],
    [`/secrets/${prefix}-secret`, "secret"],
    [`/configs/${prefix}-config`, "config"],
  ]);
  return { paths, anonymousVolume, serviceName };
}

/** The inspect paths among `made` that the daemon still has / no longer has. */
async function present(made: Made): Promise<string[]> {
  const found: string[] = [];
  for (const path of made.paths.keys()) if (await exists(dind.socketPath, path)) found.push(path);
  return found;
}

describe.skipIf(!isExecutable(CLI))("dockerd-ci-proxy reap", () => {
  let viaProxy: Made;
  let direct: Made;
  let viaOther: Made;

  beforeAll(async () => {
    await docker(dind.dockerHost, ["swarm", "init", "--advertise-addr", "127.0.0.1"]);
    viaProxy = await makeOneOfEach(proxy.dockerHost, "p");
    direct = await makeOneOfEach(dind.dockerHost, "d");
    viaOther = await makeOneOfEach(other.dockerHost, "o");
  });

  it("--dry-run lists every labelled resource and removes nothing", async () => {
    const result = await reapCli(["--dry-run", "--images"]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    for (const name of ["p-svc", "p-run", "p-stopped", "p-net", "p-vol", "p-img:latest", "p-secret", "p-config"]) {
      expect(result.stdout).toContain(name);
    }
    for (const name of ["d-run", "o-run", "d-net", "o-net", "d-svc", "o-svc"]) expect(result.stdout).not.toContain(name);
    expect(result.stdout).toMatch(/^services: would remove 1$/m);
    expect(result.stdout).toMatch(/^networks: would remove 1$/m);
    expect(result.stdout).toMatch(/^images: would remove 1$/m);
    for (const made of [viaProxy, direct, viaOther]) expect(await present(made)).toEqual([...made.paths.keys()]);
  });

  it("--images removes everything the proxy labelled, and nothing made directly or by another proxy", async () => {
    const started = Date.now();
    const result = await reapCli(["--images"]);
    const output = result.stdout + result.stderr;
    expect(result.code, output).toBe(0);
    for (const line of [/^services: removed 1$/m, /^networks: removed 1$/m, /^volumes: removed 1$/m, /^secrets: removed 1$/m, /^configs: removed 1$/m, /^images: removed 1$/m]) {
      expect(result.stdout).toMatch(line);
    }
    // The running and the stopped container, and the service's task container(s).
    expect(result.stdout).toMatch(/^containers: removed [3-9]$/m);
    expect(await present(viaProxy), output).toEqual([]);
    expect(await containerIdsWithLabels(dind.socketPath, `com.docker.swarm.service.name=${viaProxy.serviceName}`)).toEqual([]);
    expect(await present(direct)).toEqual([...direct.paths.keys()]);
    expect(await present(viaOther)).toEqual([...viaOther.paths.keys()]);
    console.log(`reap --images took ${Date.now() - started} ms:\n${result.stdout}`);
  });

  it("a second reap finds nothing and exits 0", async () => {
    const result = await reapCli(["--images"]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^containers: removed 0$/m);
  });

  it("the other proxy's label value reaps its own resources only", async () => {
    const result = await reapCli(["--lv", "other-job"]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    // Without --images its image stays.
    expect(await present(viaOther)).toEqual([`/images/o-img:latest/json`]);
    expect(await present(direct)).toEqual([...direct.paths.keys()]);
  });
});

describe.skipIf(!isExecutable(CLI))("--reap-on-exit", () => {
  it("a container started through the proxy is gone once the proxy has stopped (exit 0)", async () => {
    const reaping = await startProxyProcess({ dockerSocket: dind.socketPath, args: ["--lv", "exit-job", "--reap-on-exit"] });
    let stopped = false;
    try {
      const { stdout } = await docker(reaping.dockerHost, ["run", "-d", BUSYBOX_IMAGE, "sleep", "300"]);
      const id = stdout.trim();
      await docker(reaping.dockerHost, ["network", "create", "exit-net"]);
      const kept = (await dockerApi(dind.socketPath, "POST", "/containers/create", { Image: BUSYBOX_IMAGE, Cmd: ["true"] })).body;
      const keptId = (JSON.parse(kept) as { Id: string }).Id;
      expect(await exists(dind.socketPath, `/containers/${id}/json`)).toBe(true);

      const code = await reaping.stop("SIGTERM");
      stopped = true;
      expect(code, reaping.logs()).toBe(0);
      expect(await exists(dind.socketPath, `/containers/${id}/json`)).toBe(false);
      expect(await exists(dind.socketPath, "/networks/exit-net")).toBe(false);
      expect(await exists(dind.socketPath, `/containers/${keptId}/json`)).toBe(true);
      expect(reaping.logs()).toContain('"msg":"reaped"');
    } finally {
      if (!stopped) await reaping.stop("SIGKILL");
    }
  });
});
