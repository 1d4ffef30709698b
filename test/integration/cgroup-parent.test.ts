// --cgroupparent end to end: the proxy runs INSIDE a CI agent's container on
// a real daemon (the per-file dind), finds that container, and puts every
// container its clients create under the agent's cgroup parent, where the
// children really run. Everything is checked on the daemon DIRECTLY.
//
// On cgroup v1 the dind's containers get cgroups in the host tree
// (support/cgroup-leftovers.ts): the parents used here carry a random suffix
// and are removed after the dind, so parallel runs never share one.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeCgroups } from "./support/cgroup-leftovers.js";
import { type CiAgent, PROXY_IMAGE, startCiAgent } from "./support/ci-agent.js";
import { dockerClientEnv, runCommand } from "./support/clients/commands.js";
import { BUSYBOX_IMAGE, type Dind, dockerApi, startDind } from "./support/dind.js";
import { copyImage } from "./support/image-transfer.js";
import { outerDocker } from "./support/outer-docker.js";

const SUFFIX = randomBytes(4).toString("hex");
/** The agent's own cgroup parent, which its children must share. */
const AGENT_PARENT = `/dcp-ci-agent-${SUFFIX}`;
/** Where a client would like its container to go instead. */
const EVIL_PARENT = `/dcp-evil-${SUFFIX}`;
const EVIL_PARENT_2 = `/dcp-evil2-${SUFFIX}`;
/** The 20.10 CLI: it can still build with the classic builder, which honours `cgroupparent`. */
const DOCKER_CLI = "/usr/bin/docker";
const BUILD_SCRIPT = fileURLToPath(new URL("../fixtures/build-proxy-image.sh", import.meta.url));
const COMMAND_TIMEOUT_MS = 60_000;
/**
 * `docker run` arguments that print the child's cgroups as the daemon placed
 * them. The host's cgroup namespace is the default on cgroup v1 only: on v2
 * a child in its own namespace would just see `0::/`.
 */
const SHOW_CGROUPS = ["--cgroupns", "host", BUSYBOX_IMAGE, "cat", "/proc/self/cgroup"];

let dind: Dind;
let withParent: CiAgent;
let withHostname: CiAgent;
let withoutParent: CiAgent;
/** A proxy WITHOUT --cgroupparent, in the agent that has a parent. */
let plainProxySocket: string;
/** Temp dirs of this file: the CLI's config dir, build contexts. */
const scratch: string[] = [];
let dockerConfig: string;

beforeAll(async () => {
  const outer = outerDocker();
  // The image must hold the code under test: rebuild it if the sources
  // changed (a fingerprint check, ~2 s, when they did not).
  const built = runCommand("bash", [BUILD_SCRIPT], { env: process.env, timeoutMs: 200_000 });
  [dind] = await Promise.all([
    startDind(),
    built.then((result) => {
      if (result.code !== 0) throw new Error(`build-proxy-image.sh failed:\n${result.stderr}`);
    }),
  ]);
  await copyImage(outer.socketPath, dind.socketPath, PROXY_IMAGE);
  dockerConfig = await scratchDir("dcp-cgroup-cli-");
  [withParent, withHostname, withoutParent] = await Promise.all([
    startCiAgent(dind, { name: `agent-parent-${SUFFIX}`, cgroupParent: AGENT_PARENT, proxyArgs: ["--cgroupparent"] }),
    startCiAgent(dind, { name: `agent-hostname-${SUFFIX}`, cgroupParent: AGENT_PARENT, hostname: "ci-agent-7", proxyArgs: ["--cp"] }),
    startCiAgent(dind, { name: `agent-bare-${SUFFIX}`, proxyArgs: ["--cgroupparent"] }),
  ]);
  plainProxySocket = await withParent.startSecondProxy("plain.sock", []);
});

afterAll(async () => {
  await dind?.stop();
  // Children's own cgroups went with the dind; their parents are ours to remove.
  await removeCgroups([AGENT_PARENT, EVIL_PARENT, EVIL_PARENT_2]);
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

async function scratchDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

function docker(socketPath: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  return runCommand(DOCKER_CLI, args, { env: dockerClientEnv(`unix://${socketPath}`, dockerConfig, extraEnv), timeoutMs: COMMAND_TIMEOUT_MS });
}

interface Inspect {
  Id: string;
  HostConfig: { CgroupParent: string };
}

/** The container as the daemon itself reports it (not through any proxy). */
async function inspectDirectly(nameOrId: string): Promise<Inspect> {
  const res = await dockerApi(dind.socketPath, "GET", `/containers/${nameOrId}/json`);
  if (res.status !== 200) throw new Error(`GET /containers/${nameOrId}/json: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as Inspect;
}

async function containerIds(): Promise<string[]> {
  const list = await dockerApi(dind.socketPath, "GET", "/containers/json?all=1");
  return (JSON.parse(list.body) as Array<{ Id: string }>).map((c) => c.Id).sort();
}

async function cgroupVersion(): Promise<string> {
  const info = await dockerApi(dind.socketPath, "GET", "/info");
  return (JSON.parse(info.body) as { CgroupVersion?: string }).CgroupVersion ?? "1";
}

/** The proxy's startup line about the cgroup parent, from its JSON log. */
async function cgroupLogLine(agent: CiAgent): Promise<Record<string, unknown>> {
  const lines = (await agent.logs()).split(/\r?\n/).filter((line) => line.startsWith("{"));
  const entry = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((e) => /cgroup parent/.test(String(e["msg"])));
  if (!entry) throw new Error(`no cgroup parent line in the agent's log:\n${await agent.logs()}`);
  return entry;
}

describe("an agent container started with --cgroup-parent", () => {
  it("finds its own container by hostname and logs the parent", async () => {
    expect(await cgroupLogLine(withParent)).toMatchObject({
      level: 30,
      cgroupParent: AGENT_PARENT,
      origin: `container ${withParent.id.slice(0, 12)}, found by hostname`,
    });
  });

  it("docker run through it: the child gets the agent's CgroupParent and really runs in it", async () => {
    const name = `child-run-${SUFFIX}`;
    const run = await docker(withParent.socketPath, ["run", "--name", name, ...SHOW_CGROUPS]);
    expect(run.code, run.stderr).toBe(0);
    const child = await inspectDirectly(name);
    expect(child.HostConfig.CgroupParent).toBe(AGENT_PARENT);
    // Every hierarchy line of the child names <parent>/<its id>.
    expect(run.stdout).toContain(`${AGENT_PARENT}/${child.Id}`);
    expect(run.stdout).not.toMatch(/:\/docker\//);
  });

  it("a parent the client asks for (docker run --cgroup-parent) is replaced by the agent's", async () => {
    const name = `child-evil-cli-${SUFFIX}`;
    const run = await docker(withParent.socketPath, ["run", "--name", name, "--cgroup-parent", EVIL_PARENT, ...SHOW_CGROUPS]);
    expect(run.code, run.stderr).toBe(0);
    expect((await inspectDirectly(name)).HostConfig.CgroupParent).toBe(AGENT_PARENT);
    expect(run.stdout).toContain(`${AGENT_PARENT}/`);
    expect(run.stdout).not.toContain(EVIL_PARENT);
  });

  it("docker service create through it is refused with the reason (swarm task containers cannot be put under the parent)", async () => {
    const create = await docker(withParent.socketPath, ["service", "create", "--detach", "--no-resolve-image", "--name", `svc-${SUFFIX}`, BUSYBOX_IMAGE, "true"]);
    expect(create.code).not.toBe(0);
    expect(create.stderr).toContain("a swarm service's task containers cannot be put there");
  });

  it("a classic build's RUN steps run under the agent's parent too (/build cgroupparent)", async () => {
    const context = await scratchDir("dcp-cgroup-build-");
    await writeFile(join(context, "Dockerfile"), `FROM ${BUSYBOX_IMAGE}\nRUN cat /proc/self/cgroup\n`);
    const build = await docker(
      withParent.socketPath,
      ["build", "--no-cache", "--cgroup-parent", EVIL_PARENT, "-t", `dcp-cgroup-build-${SUFFIX}`, context],
      { DOCKER_BUILDKIT: "0" },
    );
    expect(build.code, build.stderr).toBe(0);
    expect(build.stdout).not.toContain(EVIL_PARENT);
    // A build step cannot ask for the host's cgroup namespace: only on v1 does it see its path.
    if ((await cgroupVersion()) === "1") expect(build.stdout).toContain(`${AGENT_PARENT}/`);
  });
});

describe("an agent container with a custom --hostname", () => {
  it("finds its own container through /proc/self/mountinfo", async () => {
    expect(await cgroupLogLine(withHostname)).toMatchObject({
      cgroupParent: AGENT_PARENT,
      origin: `container ${withHostname.id.slice(0, 12)}, found by mountinfo`,
    });
  });

  it("docker run through it: the child gets the agent's CgroupParent and really runs in it", async () => {
    const name = `child-hostname-${SUFFIX}`;
    const run = await docker(withHostname.socketPath, ["run", "--name", name, ...SHOW_CGROUPS]);
    expect(run.code, run.stderr).toBe(0);
    const child = await inspectDirectly(name);
    expect(child.HostConfig.CgroupParent).toBe(AGENT_PARENT);
    expect(run.stdout).toContain(`${AGENT_PARENT}/${child.Id}`);
  });
});

describe("an agent container without a cgroup parent", () => {
  it("logs why there is no parent", async () => {
    expect(await cgroupLogLine(withoutParent)).toMatchObject({
      level: 40,
      reason: `the proxy's container ${withoutParent.id.slice(0, 12)} (found by hostname) has no cgroup parent; start that container with --cgroup-parent, or give the proxy --cgroup-parent-value`,
    });
  });

  it("docker run fails with a message naming the cause, and creates nothing", async () => {
    const before = await containerIds();
    const run = await docker(withoutParent.socketPath, ["run", "--name", `child-refused-${SUFFIX}`, BUSYBOX_IMAGE, "true"]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("Error response from daemon: dockerd-ci-proxy creates containers only under the CI agent's cgroup parent");
    expect(run.stderr).toContain(`container ${withoutParent.id.slice(0, 12)} (found by hostname) has no cgroup parent`);
    // A 403, not a 404: the CLI must not have tried to pull the image.
    expect(run.stderr).not.toMatch(/Unable to find image|pull/i);
    expect(await containerIds()).toEqual(before);
  });

  it("refuses /build with 403 and the same cause", async () => {
    const build = await dockerApi(withoutParent.socketPath, "POST", "/build?t=refused");
    expect(build.status).toBe(403);
    expect(build.headers["x-docker-ci-proxy-error"]).toBe("DCP_CGROUP_PARENT_UNAVAILABLE");
    expect((JSON.parse(build.body) as { message: string }).message).toContain("has no cgroup parent");
  });

  it("still serves everything else", async () => {
    const ps = await docker(withoutParent.socketPath, ["ps", "-a", "--format", "{{.Names}}"]);
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout).toContain(`agent-bare-${SUFFIX}`);
    const network = await docker(withoutParent.socketPath, ["network", "create", `net-${SUFFIX}`]);
    expect(network.code, network.stderr).toBe(0);
  });
});

describe("without --cgroupparent", () => {
  it("nothing changes: the child keeps the daemon's default parent, even in an agent that has one", async () => {
    const name = `child-plain-${SUFFIX}`;
    const run = await docker(plainProxySocket, ["run", "--name", name, ...SHOW_CGROUPS]);
    expect(run.code, run.stderr).toBe(0);
    const child = await inspectDirectly(name);
    expect(child.HostConfig.CgroupParent).toBe("");
    expect(run.stdout).not.toContain(AGENT_PARENT);
    expect(run.stdout).toContain(child.Id);
  });
});

describe("no spelling of HostConfig.CgroupParent moves a child out of the agent's parent", () => {
  // Go's encoding/json matches keys case-insensitively with Unicode folding
  // ("ſ" is "s"), decodes escapes in keys, lets a later duplicate win and
  // merges objects. (The Kelvin sign folds to "k": neither name has one.)
  // Each body must either create a container under the agent's parent or be
  // refused with nothing created.
  const image = JSON.stringify(BUSYBOX_IMAGE);
  const variants: Array<[string, string]> = [
    ["lower-case keys", `{"Image":${image},"hostconfig":{"cgroupparent":"${EVIL_PARENT}"}}`],
    ["duplicate keys in two spellings", `{"Image":${image},"HostConfig":{"CgroupParent":"${EVIL_PARENT}","cgroupParent":"${EVIL_PARENT_2}"}}`],
    ["HostConfig null", `{"Image":${image},"HostConfig":null}`],
    ["null, then an object in another spelling", `{"Image":${image},"HostConfig":null,"hostConfig":{"CgroupParent":"${EVIL_PARENT}"}}`],
    ["the agent's parent, then a second HostConfig spelling", `{"Image":${image},"HostConfig":{"CgroupParent":"${AGENT_PARENT}"},"HOSTCONFIG":{"CgroupParent":"${EVIL_PARENT}"}}`],
    ["long s in HostConfig", `{"Image":${image},"Ho\u017ftConfig":{"CgroupParent":"${EVIL_PARENT}"}}`],
    ["long s after the real key", `{"Image":${image},"HostConfig":{"Memory":0},"HOſTCONFIG":{"CgroupParent":"${EVIL_PARENT}"}}`],
    ["an escaped key", `{"Image":${image},"HostConfig":{"Cgroup\\u0050arent":"${EVIL_PARENT}"}}`],
    ["CgroupParent null", `{"Image":${image},"HostConfig":{"CgroupParent":null}}`],
    ["no HostConfig at all", `{"Image":${image}}`],
  ];

  it.each(variants)("%s", async (_, body) => {
    const before = await containerIds();
    const created = await dockerApi(withParent.socketPath, "POST", "/containers/create", body);
    if (created.status === 201) {
      const { Id } = JSON.parse(created.body) as { Id: string };
      expect((await inspectDirectly(Id)).HostConfig.CgroupParent).toBe(AGENT_PARENT);
      await dockerApi(dind.socketPath, "DELETE", `/containers/${Id}?force=1`);
    } else {
      expect(created.status, created.body).toBeGreaterThanOrEqual(400);
      expect(created.status).toBeLessThan(500);
      expect(created.status).not.toBe(404);
      expect(await containerIds()).toEqual(before);
    }
  });
});
