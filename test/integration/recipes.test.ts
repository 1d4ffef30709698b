// The recipes of docs/recipes.md, tried as written on this file's dind:
//
// - docs/recipes/jenkins-agent-compose.yml brought up by docker-compose, with
//   only its documented variables set (local images instead of Docker Hub
//   ones, the dind's socket instead of /var/run/docker.sock); from inside the
//   agent container, as a non-root user, the docker CLI creates things that
//   must come out labelled; docs/recipes/reap-job.sh (in the agent) and
//   `dockerd-ci-proxy reap` (exec'd in the sidecar) remove them again; `down`
//   with DCP_REAP_ON_EXIT=true reaps what was left behind; and a second
//   project with CI_CGROUP_PARENT puts agent, proxy and children under it.
// - the GitLab runner recipe's part that needs no runner: the proxy as a
//   container on the "host" listening in /run/dcp, and a job container given
//   `-v /run/dcp/docker.sock:/var/run/docker.sock` as config.toml would.
//
// Everything is checked on the daemon DIRECTLY, never through the proxy.
// The Kubernetes recipe is not tried here (no cluster).
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeCgroups } from "./support/cgroup-leftovers.js";
import { PROXY_IMAGE } from "./support/ci-agent.js";
import { dockerClientEnv, findOnPath, runCommand, runOk } from "./support/clients/commands.js";
import { BUSYBOX_IMAGE, type Dind, dockerApi, SOCKET_DIR_IN_CONTAINER, startDind } from "./support/dind.js";
import { copyImage } from "./support/image-transfer.js";
import { outerDocker } from "./support/outer-docker.js";
import { waitFor } from "./support/wait-for.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const COMPOSE_FILE = join(REPO_ROOT, "docs", "recipes", "jenkins-agent-compose.yml");
const REAP_SCRIPT = join(REPO_ROOT, "docs", "recipes", "reap-job.sh");

const COMPOSE = findOnPath("docker-compose");
/** The host's docker CLI, copied into the agent image with its libraries. */
const DOCKER_CLI = findOnPath("docker") ?? "/usr/bin/docker";
/** The 20.10 CLI builds with the classic builder (RUN steps) against the dind. */
const HOST_DOCKER = "/usr/bin/docker";

const SUFFIX = randomBytes(4).toString("hex");
const AGENT_NAME = `recipe-agent-${SUFFIX}`;
/** Stands in for jenkins/inbound-agent: busybox, a docker CLI, a non-root user (uid 1000 like jenkins). */
const AGENT_IMAGE = `local/recipe-agent:${SUFFIX}`;
const AGENT_UID = "1000";
/** What the compose file's proxy puts on everything. */
const MAIN_LABEL = ["Created-Via", "dockerd-ci-proxy"] as const;
const AGENT_LABEL = ["jenkins-agent", AGENT_NAME] as const;
const COMMAND_TIMEOUT_MS = 90_000;

/** Where the cgroup-parent run puts the agent, the proxy and the jobs' containers (cgroupfs driver in the dind). */
const CGROUP_PARENT = `/dcp-recipe-${SUFFIX}`;

let dind: Dind;
let work: string;
let dockerGid: string;

/** One `docker-compose -p` project of the Jenkins recipe. */
interface Project {
  readonly name: string;
  readonly env: NodeJS.ProcessEnv;
  up: boolean;
}
const projects: Project[] = [];
/** The recipe with DCP_REAP_ON_EXIT=true, CI_CGROUP_PARENT unset. */
let jenkins: Project;

beforeAll(async () => {
  const outer = outerDocker();
  work = await mkdtemp(join(tmpdir(), "dcp-recipes-"));
  await mkdir(join(work, "docker-config"));
  dind = await startDind();
  dockerGid = String((await stat(dind.socketPath)).gid);
  await copyImage(outer.socketPath, dind.socketPath, PROXY_IMAGE);
  await buildAgentImage();
  jenkins = recipeProject(`dcprecipe${SUFFIX}`, AGENT_NAME, { DCP_REAP_ON_EXIT: "true" });
});

/** The environment a user would set for the recipe: its documented variables and nothing else. */
function recipeProject(name: string, agentName: string, variables: Record<string, string>): Project {
  const env = dockerClientEnv(dind.dockerHost, join(work, "docker-config"), {
    COMPOSE_PROJECT_NAME: name,
    AGENT_IMAGE,
    PROXY_IMAGE,
    // The dind's daemon listens here, not on /var/run/docker.sock.
    DOCKER_SOCKET: `${SOCKET_DIR_IN_CONTAINER}/docker.sock`,
    DOCKER_GID: dockerGid,
    JENKINS_URL: "http://jenkins.invalid/",
    JENKINS_AGENT_NAME: agentName,
    JENKINS_SECRET: "not-used-here",
  });
  // The developer's own DCP_* and CI_* settings must not change what the recipe does.
  for (const key of Object.keys(env)) {
    if (key.startsWith("DCP_") || key.startsWith("CI_")) delete env[key];
  }
  const project: Project = { name, env: { ...env, ...variables }, up: false };
  projects.push(project);
  return project;
}

afterAll(async () => {
  for (const project of projects) {
    if (project.up) await compose(project, ["down", "--volumes", "--timeout", "1"]).catch(() => {});
  }
  await dind?.stop();
  // The children's cgroups went with their containers; the parent is ours to remove.
  await removeCgroups([CGROUP_PARENT]);
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * A stand-in for the Jenkins agent image (nothing can be pulled here): busybox,
 * the host's docker CLI with its libraries, user jenkins (1000:1000), and a
 * main process that exits on SIGTERM. Built in the dind with the classic builder.
 */
async function buildAgentImage(): Promise<void> {
  const context = join(work, "agent-image");
  const rootfs = join(context, "rootfs");
  // /usr/bin: local/busybox's PATH has no /usr/local/bin.
  await copyWithLibraries(rootfs, DOCKER_CLI, "/usr/bin/docker");
  await writeFile(
    join(context, "Dockerfile"),
    [
      `FROM ${BUSYBOX_IMAGE}`,
      "COPY rootfs/ /",
      "RUN echo 'jenkins:x:1000:1000:jenkins:/home/jenkins:/bin/sh' >>/etc/passwd \\",
      " && echo 'jenkins:x:1000:' >>/etc/group \\",
      " && mkdir -p /home/jenkins/agent && chown -R 1000:1000 /home/jenkins",
      "ENV HOME=/home/jenkins",
      "USER jenkins",
      "WORKDIR /home/jenkins",
      `CMD ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`,
      "",
    ].join("\n"),
  );
  await runOk(HOST_DOCKER, ["build", "-q", "-t", AGENT_IMAGE, context], {
    env: dockerClientEnv(dind.dockerHost, join(work, "docker-config"), { DOCKER_BUILDKIT: "0" }),
    timeoutMs: COMMAND_TIMEOUT_MS,
  });
}

/** Copies `bin` to `dest` under `root`, plus every library ldd lists for it (none for a static CLI). */
async function copyWithLibraries(root: string, bin: string, dest: string): Promise<void> {
  await mkdir(join(root, dirname(dest)), { recursive: true });
  await copyFile(bin, join(root, dest));
  let ldd = "";
  try {
    ldd = execFileSync("ldd", [bin], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    // "not a dynamic executable": nothing to copy.
  }
  for (const lib of ldd.match(/\/[^\s]+/g) ?? []) {
    await mkdir(join(root, dirname(lib)), { recursive: true });
    await copyFile(lib, join(root, lib));
  }
}

function compose(project: Project, args: string[], input?: string) {
  return runOk(COMPOSE!, ["-f", COMPOSE_FILE, ...args], {
    env: project.env,
    cwd: work,
    timeoutMs: COMMAND_TIMEOUT_MS,
    ...(input !== undefined ? { input } : {}),
  });
}

/** Runs a shell script inside the running agent container, as its own user. */
function inAgent(project: Project, script: string, ...args: string[]) {
  return compose(project, ["exec", "-T", "agent", "sh", "-c", script, "sh", ...args]);
}

/** `docker <args>` on the dind directly (the "host" of the recipes). */
function dockerOnHost(args: string[]) {
  return runCommand(HOST_DOCKER, args, {
    env: dockerClientEnv(dind.dockerHost, join(work, "docker-config")),
    timeoutMs: COMMAND_TIMEOUT_MS,
  });
}

interface Labelled {
  Labels?: Record<string, string> | null;
  Config?: { Labels?: Record<string, string> | null };
}

/** The labels of a container, volume or network as the daemon reports them; undefined on 404. */
async function labelsOf(kind: "containers" | "volumes" | "networks", name: string): Promise<Record<string, string> | undefined> {
  const res = await dockerApi(dind.socketPath, "GET", `/${kind}/${name}${kind === "containers" ? "/json" : ""}`);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`GET /${kind}/${name}: ${res.status} ${res.body}`);
  const body = JSON.parse(res.body) as Labelled;
  return (kind === "containers" ? body.Config?.Labels : body.Labels) ?? {};
}

async function inspect(nameOrId: string): Promise<{ Id: string; HostConfig: { CgroupParent: string } }> {
  const res = await dockerApi(dind.socketPath, "GET", `/containers/${nameOrId}/json`);
  if (res.status !== 200) throw new Error(`GET /containers/${nameOrId}/json: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as { Id: string; HostConfig: { CgroupParent: string } };
}

async function projectContainer(project: Project, service: string): Promise<{ Id: string; State: string }> {
  const filters = encodeURIComponent(
    JSON.stringify({ label: [`com.docker.compose.project=${project.name}`, `com.docker.compose.service=${service}`] }),
  );
  const res = await dockerApi(dind.socketPath, "GET", `/containers/json?all=1&filters=${filters}`);
  const [found] = JSON.parse(res.body) as Array<{ Id: string; State: string }>;
  if (!found) throw new Error(`no ${service} container in project ${project.name}`);
  return found;
}

describe.skipIf(COMPOSE === undefined)(
  COMPOSE === undefined
    ? "Jenkins compose recipe: docker-compose not on PATH, skipped (apt-get install docker-compose)"
    : "docs/recipes/jenkins-agent-compose.yml, as written",
  () => {
    it("up -d: the proxy is healthy first, the agent runs as a non-root user and has no daemon socket", async () => {
      jenkins.up = true;
      await compose(jenkins, ["up", "-d"]);
      const dcp = await projectContainer(jenkins, "dcp");
      const health = await dockerApi(dind.socketPath, "GET", `/containers/${dcp.Id}/json`);
      expect((JSON.parse(health.body) as { State: { Health?: { Status: string } } }).State.Health?.Status).toBe("healthy");
      expect((await projectContainer(jenkins, "agent")).State).toBe("running");

      const who = await inAgent(jenkins, 'id -u; echo "$DOCKER_HOST"; ls /var/run/docker.sock 2>/dev/null || echo no-daemon-socket');
      expect(who.stdout.split("\n")).toEqual([AGENT_UID, "unix:///run/dcp/docker.sock", "no-daemon-socket", ""]);
      // The agent user may use the proxy's socket (group_add), and it reaches the daemon.
      const version = await inAgent(jenkins, "docker version --format '{{.Server.Version}}'");
      expect(version.stdout.trim()).toMatch(/^\d+\.\d+/);
    });

    it("docker run and docker volume create in the agent: both carry the recipe's labels", async () => {
      await inAgent(jenkins, `docker run --name job-run-${SUFFIX} ${BUSYBOX_IMAGE} true && docker volume create job-vol-${SUFFIX}`);
      const expected = { [MAIN_LABEL[0]]: MAIN_LABEL[1], [AGENT_LABEL[0]]: AGENT_LABEL[1] };
      expect(await labelsOf("containers", `job-run-${SUFFIX}`)).toMatchObject(expected);
      expect(await labelsOf("volumes", `job-vol-${SUFFIX}`)).toMatchObject(expected);
      // Created by compose on the daemon itself, not through the proxy: not labelled, so never reaped.
      expect(await labelsOf("containers", (await projectContainer(jenkins, "agent")).Id)).not.toHaveProperty(MAIN_LABEL[0]);
    });

    it("docs/recipes/reap-job.sh, run in the agent through the proxy, removes this agent's things only", async () => {
      await inAgent(
        jenkins,
        `docker run -d --name job-sleeper-${SUFFIX} ${BUSYBOX_IMAGE} sleep 300 >/dev/null && ` +
          `docker network create job-net-${SUFFIX} >/dev/null && docker volume create job-vol2-${SUFFIX} >/dev/null`,
      );
      // Made on the daemon directly with another agent's label: must survive.
      const other = await dockerOnHost(["volume", "create", "--label", "jenkins-agent=someone-else", `other-vol-${SUFFIX}`]);
      expect(other.code, other.stderr).toBe(0);

      await compose(
        jenkins,
        ["exec", "-T", "agent", "sh", "-s", "--", `${MAIN_LABEL[0]}=${MAIN_LABEL[1]}`, `${AGENT_LABEL[0]}=${AGENT_LABEL[1]}`],
        await readFile(REAP_SCRIPT, "utf8"),
      );
      for (const [kind, name] of [
        ["containers", `job-run-${SUFFIX}`],
        ["containers", `job-sleeper-${SUFFIX}`],
        ["networks", `job-net-${SUFFIX}`],
        ["volumes", `job-vol-${SUFFIX}`],
        ["volumes", `job-vol2-${SUFFIX}`],
      ] as const) {
        expect(await labelsOf(kind, name), `${kind}/${name}`).toBeUndefined();
      }
      expect(await labelsOf("volumes", `other-vol-${SUFFIX}`)).toEqual({ "jenkins-agent": "someone-else" });
      expect((await projectContainer(jenkins, "agent")).State).toBe("running");
      expect((await projectContainer(jenkins, "dcp")).State).toBe("running");
    });

    it("docker-compose exec dcp dockerd-ci-proxy reap: the sidecar reaps with its own labels, on the daemon directly", async () => {
      await inAgent(jenkins, `docker run -d --name exec-reaped-${SUFFIX} ${BUSYBOX_IMAGE} sleep 300 >/dev/null`);
      const reaped = await compose(jenkins, ["exec", "-T", "dcp", "dockerd-ci-proxy", "reap"]);
      // No options: the sidecar's DCP_LABELS is the filter, /var/run/docker.sock the daemon.
      const [header] = reaped.stdout.split("\n");
      expect(header).toMatch(/^reaping everything labelled .* on \/var\/run\/docker\.sock$/);
      expect(header).toContain(`${MAIN_LABEL[0]}=${MAIN_LABEL[1]}`);
      expect(header).toContain(`${AGENT_LABEL[0]}=${AGENT_LABEL[1]}`);
      expect(reaped.stdout).toContain("containers: removed 1");
      expect(await labelsOf("containers", `exec-reaped-${SUFFIX}`)).toBeUndefined();
      expect(await labelsOf("volumes", `other-vol-${SUFFIX}`)).toEqual({ "jenkins-agent": "someone-else" });
      expect((await projectContainer(jenkins, "agent")).State).toBe("running");
    });

    it("down --volumes with DCP_REAP_ON_EXIT=true: the proxy reaps what the agent left running", async () => {
      await inAgent(jenkins, `docker run -d --name left-behind-${SUFFIX} ${BUSYBOX_IMAGE} sleep 300 >/dev/null`);
      expect(await labelsOf("containers", `left-behind-${SUFFIX}`)).toMatchObject({ [AGENT_LABEL[0]]: AGENT_LABEL[1] });
      // No --timeout: the services' own stop_grace_period applies, as for a user.
      await compose(jenkins, ["down", "--volumes"]);
      jenkins.up = false;
      expect(await labelsOf("containers", `left-behind-${SUFFIX}`)).toBeUndefined();
      expect(await labelsOf("volumes", `${jenkins.name}_dcp-socket`)).toBeUndefined();
      expect(await labelsOf("volumes", `other-vol-${SUFFIX}`)).toEqual({ "jenkins-agent": "someone-else" });
    });

    it("with CI_CGROUP_PARENT: the agent, the proxy and the jobs' containers all run under that parent", async () => {
      const grouped = recipeProject(`dcprecipecg${SUFFIX}`, `${AGENT_NAME}-cg`, { CI_CGROUP_PARENT: CGROUP_PARENT });
      grouped.up = true;
      await compose(grouped, ["up", "-d"]);
      for (const service of ["agent", "dcp"]) {
        const { Id } = await projectContainer(grouped, service);
        expect((await inspect(Id)).HostConfig.CgroupParent, service).toBe(CGROUP_PARENT);
      }
      const name = `job-cgroup-${SUFFIX}`;
      // --cgroupns host: the child sees its cgroup path (cgroup v2 would show 0::/ otherwise).
      const run = await inAgent(grouped, `docker run --name ${name} --cgroupns host ${BUSYBOX_IMAGE} cat /proc/self/cgroup`);
      const child = await inspect(name);
      expect(child.HostConfig.CgroupParent).toBe(CGROUP_PARENT);
      expect(run.stdout).toContain(`${CGROUP_PARENT}/${child.Id}`);
      await compose(grouped, ["down", "--volumes", "--timeout", "1"]);
      grouped.up = false;
    });
  },
);

describe("GitLab runner recipe: a job container with -v /run/dcp/docker.sock:/var/run/docker.sock", () => {
  it("the job's docker run goes through the host proxy and is labelled", async () => {
    // The recipe's proxy container, with the dind's socket where the host's would be.
    const started = await dockerOnHost([
      "run", "-d", "--name", `dcp-${SUFFIX}`, "--restart", "unless-stopped",
      "-v", `${SOCKET_DIR_IN_CONTAINER}/docker.sock:/var/run/docker.sock`,
      "-v", "/run/dcp:/run/dcp",
      PROXY_IMAGE, "--ls", "/run/dcp/docker.sock", "--label", "gitlab-runner=runner-1",
    ]);
    expect(started.code, started.stderr).toBe(0);
    const gitlabProxyId = started.stdout.trim();
    // Wait for its log line, not by mounting the socket: a bind mount of a
    // path that does not exist yet makes the daemon create a DIRECTORY there
    // (see the recipe's warning).
    await waitFor("the host proxy's \"listening\" line", async () => {
      const logs = await dockerOnHost(["logs", gitlabProxyId]);
      if (logs.stdout.includes('"msg":"listening"')) return true;
      const state = await dockerOnHost(["inspect", "--format", "{{.State.Running}}", gitlabProxyId]);
      if (state.stdout.trim() !== "true") throw new Error(`the host proxy exited:\n${logs.stdout}${logs.stderr}`);
      return undefined;
    });

    // What the runner does for each job: the volumes entry of config.toml. The
    // job's docker CLI uses its default socket (no DOCKER_HOST); the job runs
    // as root, as most CI images do.
    const job = await dockerOnHost([
      "run", "--rm", "--user", "0",
      "-v", "/run/dcp/docker.sock:/var/run/docker.sock",
      AGENT_IMAGE, "docker", "run", "--name", `gitlab-child-${SUFFIX}`, BUSYBOX_IMAGE, "true",
    ]);
    expect(job.code, job.stderr).toBe(0);
    expect(await labelsOf("containers", `gitlab-child-${SUFFIX}`)).toMatchObject({
      [MAIN_LABEL[0]]: MAIN_LABEL[1],
      "gitlab-runner": "runner-1",
    });
    // The proxy's own container was made on the daemon directly: not labelled.
    expect(await labelsOf("containers", gitlabProxyId)).not.toHaveProperty(MAIN_LABEL[0]);
  });
});

describe("docs/recipes.md", () => {
  it("shows the files these tests try, unchanged", async () => {
    const doc = await readFile(join(REPO_ROOT, "docs", "recipes.md"), "utf8");
    for (const file of [COMPOSE_FILE, REAP_SCRIPT, join(REPO_ROOT, "docs", "recipes", "kubernetes-pod.yaml")]) {
      expect(doc, file).toContain((await readFile(file, "utf8")).trimEnd());
    }
  });
});
