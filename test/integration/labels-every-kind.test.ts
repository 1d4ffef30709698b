// "Labels on every resource": real clients create every kind of resource
// through the proxy, and each one is then looked up on the daemon DIRECTLY
// (never through the proxy) and must carry the proxy's label. The base image
// has no Created-Via label (checked first), so a label found on anything made
// from it can only have come from the proxy.
//
// testcontainers is one of the clients, so this file's dind runs in a child
// process (startDind itself uses testcontainers, on the outer daemon), and
// DOCKER_HOST names the proxy before testcontainers is first imported.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "./support/wait-for.js";
import { dockerApi } from "./support/docker-api.js";
import { type ProxyProcess, startProxyProcess } from "./support/proxy-process.js";
import type { ChildDind } from "./support/clients/child-dind.js";
import { type TestcontainersViaProxy, testcontainersViaProxy } from "./support/clients/testcontainers-via-proxy.js";
import { dockerClientEnv, findOnPath, isExecutable, runCommand, runOk } from "./support/clients/commands.js";
import { logMark, waitForRequest } from "./support/clients/proxy-log.js";
import type { CommandOptions } from "./support/clients/commands.js";
import {
  configLabels,
  containerIdsWithLabels,
  containerLabels,
  DEFAULT_LABEL_NAME,
  DEFAULT_LABELS,
  imageLabels,
  type Labels,
  networkLabels,
  secretLabels,
  serviceLabels,
  volumeLabels,
} from "./support/labels/daemon-state.js";
import { sendRaw } from "./support/labels/raw-request.js";
import { tar } from "./support/labels/tar.js";

// Not imported from support/dind.js: that module imports testcontainers.
const BUSYBOX_IMAGE = "local/busybox:latest";
const COMMAND_TIMEOUT_MS = 90_000;
const CONTAINER_ID = /^[0-9a-f]{64}$/;

interface Cli {
  label: string;
  path: string;
  /** Short and unique, for the names of what a test creates. */
  slug: string;
}

const CLI_20 = { label: "docker CLI 20.10", path: "/usr/bin/docker", slug: "cli20" } satisfies Cli;
const CLI_28 = { label: "docker CLI 28", path: "/usr/local/bin/docker", slug: "cli28" } satisfies Cli;
const CLIS: Cli[] = [CLI_20, CLI_28];
const COMPOSE = findOnPath("docker-compose");

let dind: ChildDind;
let proxy: ProxyProcess;
let work: string;
let testcontainers: typeof import("testcontainers");
let setup: TestcontainersViaProxy | undefined;

beforeAll(async () => {
  setup = await testcontainersViaProxy();
  ({ dind, proxy, testcontainers } = setup);
  work = await mkdtemp(join(tmpdir(), "dcp-labels-kinds-"));
  await mkdir(join(work, "docker-config"));
});

afterAll(async () => {
  await setup?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const socket = () => dind.socketPath;

/** The proxy's label is there with the proxy's value. */
function expectInjected(labels: Labels): void {
  expect(labels).toMatchObject(DEFAULT_LABELS);
}

function cliOptions(dockerHost: string, env: NodeJS.ProcessEnv = {}, extra: Partial<CommandOptions> = {}): CommandOptions {
  return { env: dockerClientEnv(dockerHost, join(work, "docker-config"), env), timeoutMs: COMMAND_TIMEOUT_MS, ...extra };
}

/** Runs a docker CLI through the proxy; a non-zero exit fails with its output. */
function viaProxy(cli: Cli, args: string[], env: NodeJS.ProcessEnv = {}, extra: Partial<CommandOptions> = {}) {
  return runOk(cli.path, args, cliOptions(proxy.dockerHost, env, extra));
}

/** Runs the 20.10 CLI against the inner daemon DIRECTLY (setup and checks, never a creation under test). */
function direct(args: string[], extra: Partial<CommandOptions> = {}) {
  return runOk(CLI_20.path, args, cliOptions(dind.dockerHost, {}, extra));
}

describe("the fixture", () => {
  it("the base image carries no Created-Via label of its own", async () => {
    expect(await imageLabels(socket(), BUSYBOX_IMAGE)).not.toHaveProperty(DEFAULT_LABEL_NAME);
  });
});

describe.each(CLIS)("$label", (cli) => {
  const installed = isExecutable(cli.path);

  describe.skipIf(!installed)(installed ? `${cli.path} through the proxy` : `${cli.path} is not installed: skipped`, () => {
    it("run: the container is labelled, the client's own --label is kept, the proxy's value wins for its key", async () => {
      const cidFile = join(work, `${cli.slug}-run.cid`);
      await viaProxy(cli, ["run", "--cidfile", cidFile, "--label", "team=blue", "--label", `${DEFAULT_LABEL_NAME}=client-said`, BUSYBOX_IMAGE, "true"]);
      const id = (await readFile(cidFile, "utf8")).trim();
      expect(await containerLabels(socket(), id)).toMatchObject({ ...DEFAULT_LABELS, team: "blue" });
    });

    it("create: the container is labelled", async () => {
      const { stdout } = await viaProxy(cli, ["create", "--label", "made-by=create", BUSYBOX_IMAGE, "true"]);
      const id = stdout.trim();
      expect(id).toMatch(CONTAINER_ID);
      expect(await containerLabels(socket(), id)).toMatchObject({ ...DEFAULT_LABELS, "made-by": "create" });
    });

    it("--mount type=volume: the volume made on the fly is labelled too", async () => {
      const volume = `${cli.slug}-mounted`;
      const { stdout } = await viaProxy(cli, ["create", "--mount", `type=volume,source=${volume},target=/d`, BUSYBOX_IMAGE, "true"]);
      expectInjected(await containerLabels(socket(), stdout.trim()));
      expectInjected(await volumeLabels(socket(), volume));
    });

    it("run -v name:/path: the named volume made on the fly is labelled; one that existed keeps its own labels", async () => {
      const fresh = `${cli.slug}-bound`;
      const existing = `${cli.slug}-bound-existing`;
      await direct(["volume", "create", "--label", "made=directly", existing]);
      await viaProxy(cli, ["run", "--rm", "-v", `${fresh}:/fresh`, "-v", `${existing}:/old:ro`, "-v", "/tmp:/host-tmp:ro", BUSYBOX_IMAGE, "true"]);
      expectInjected(await volumeLabels(socket(), fresh));
      expect(await volumeLabels(socket(), existing)).toEqual({ made: "directly" });
    });

    it("network create: the network is labelled, the client's label kept", async () => {
      const name = `${cli.slug}-net`;
      await viaProxy(cli, ["network", "create", "--label", "net=1", name]);
      expect(await networkLabels(socket(), name)).toMatchObject({ ...DEFAULT_LABELS, net: "1" });
    });

    it("volume create: the volume is labelled, the client's label kept", async () => {
      const name = `${cli.slug}-vol`;
      await viaProxy(cli, ["volume", "create", "--label", "vol=1", name]);
      expect(await volumeLabels(socket(), name)).toMatchObject({ ...DEFAULT_LABELS, vol: "1" });
    });

    it("classic build (DOCKER_BUILDKIT=0): the image is labelled over the Dockerfile's LABEL, the client's --label kept", async () => {
      const context = join(work, `${cli.slug}-classic-ctx`);
      await mkdir(context);
      await writeFile(join(context, "Dockerfile"), `FROM ${BUSYBOX_IMAGE}\nLABEL ${DEFAULT_LABEL_NAME}=from-dockerfile kept=yes\nRUN echo built > /built\n`);
      const tag = `${cli.slug}-classic:latest`;
      await viaProxy(cli, ["build", "-q", "-t", tag, "--label", "build=classic", context], { DOCKER_BUILDKIT: "0" });
      expect(await imageLabels(socket(), tag)).toMatchObject({ ...DEFAULT_LABELS, kept: "yes", build: "classic" });
    });

    it("import (a tar of a rootfs): the image is labelled, over a client's --change LABEL", async () => {
      const rootfs = join(work, `${cli.slug}-rootfs.tar`);
      await writeFile(rootfs, rootfsTar());
      const ref = `${cli.slug}-imported:latest`;
      await viaProxy(cli, ["import", "--change", `LABEL ${DEFAULT_LABEL_NAME}=client imported=yes`, rootfs, ref]);
      expect(await imageLabels(socket(), ref)).toMatchObject({ ...DEFAULT_LABELS, imported: "yes" });
    });

    it("commit of a container made directly: the image is labelled, over a client's --change LABEL", async () => {
      // Made straight on the daemon: no label to inherit from the container.
      const made = await dockerApi(socket(), "POST", "/containers/create", { Image: BUSYBOX_IMAGE, Cmd: ["true"], Labels: { origin: "direct" } });
      expect(made.status).toBe(201);
      const id = (JSON.parse(made.body) as { Id: string }).Id;
      expect(await containerLabels(socket(), id)).not.toHaveProperty(DEFAULT_LABEL_NAME);
      const ref = `${cli.slug}-committed:latest`;
      await viaProxy(cli, ["commit", "--change", `LABEL ${DEFAULT_LABEL_NAME}=client`, id, ref]);
      expect(await imageLabels(socket(), ref)).toMatchObject({ ...DEFAULT_LABELS, origin: "direct" });
    });
  });
});

describe.skipIf(!isExecutable(CLI_20.path))("BuildKit through the 20.10 CLI (/session + /build?version=2)", () => {
  it("DOCKER_BUILDKIT=1 build: the image is labelled over the Dockerfile's LABEL, the client's --label kept", async () => {
    const context = join(work, "buildkit-ctx");
    await mkdir(context);
    await writeFile(join(context, "Dockerfile"), `FROM ${BUSYBOX_IMAGE}\nLABEL ${DEFAULT_LABEL_NAME}=from-dockerfile kept=yes\nRUN echo built > /built\n`);
    const tag = "cli20-buildkit:latest";
    const mark = logMark(proxy);
    await viaProxy(CLI_20, ["build", "-q", "-t", tag, "--label", "build=buildkit", context], { DOCKER_BUILDKIT: "1" });
    expect(await imageLabels(socket(), tag)).toMatchObject({ ...DEFAULT_LABELS, kept: "yes", build: "buildkit" });
    // It really was BuildKit: a hijacked /session beside the /build call.
    await waitForRequest(proxy, mark, { method: "POST", route: "/build", status: 200 });
    await waitForRequest(proxy, mark, { method: "POST", route: "/session", hijacked: true });
  });
});

describe.skipIf(!isExecutable(CLI_20.path))("--refuse-buildkit", () => {
  let strict: ProxyProcess;
  beforeAll(async () => {
    strict = await startProxyProcess({ dockerSocket: dind.socketPath, args: ["--refuse-buildkit"] });
  });
  afterAll(async () => {
    await strict?.stop();
  });

  it("refuses DOCKER_BUILDKIT=1 builds and buildx's /grpc with the reason; classic builds still work, labelled", async () => {
    const context = join(work, "refuse-buildkit-ctx");
    await mkdir(context);
    await writeFile(join(context, "Dockerfile"), `FROM ${BUSYBOX_IMAGE}\nRUN echo built > /built\n`);
    const options = (buildkit: string) => cliOptions(strict.dockerHost, { DOCKER_BUILDKIT: buildkit });
    const refused = await runCommand(CLI_20.path, ["build", "-q", "-t", "refused-buildkit:latest", context], options("1"));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("BuildKit builds are refused by this dockerd-ci-proxy (--refuse-buildkit)");
    expect((await dockerApi(socket(), "GET", "/images/refused-buildkit:latest/json")).status).toBe(404);

    const grpc = await sendRaw(strict.socketPath, { target: "/grpc", headers: [["Connection", "Upgrade"], ["Upgrade", "h2c"]], body: "" });
    expect({ status: grpc.status, error: grpc.proxyError }).toEqual({ status: 403, error: "DCP_BUILDKIT_REFUSED" });

    await runOk(CLI_20.path, ["build", "-q", "-t", "classic-under-refusal:latest", context], options("0"));
    expectInjected(await imageLabels(socket(), "classic-under-refusal:latest"));
  });
});

describe("swarm (initialised on the daemon directly)", () => {
  beforeAll(async () => {
    await direct(["swarm", "init", "--advertise-addr", "127.0.0.1"]);
  });

  describe.each(CLIS.filter((cli) => isExecutable(cli.path)))("$label", (cli) => {
    it("service create: the service and its task containers are labelled; service update keeps both", async () => {
      const name = `${cli.slug}-svc`;
      await viaProxy(cli, [
        // sleep as PID 1 ignores SIGTERM: a short grace period keeps the update's task swap quick.
        "service", "create", "--detach", "--no-resolve-image", "--stop-grace-period", "1s", "--name", name,
        "--label", "svc=1", "--container-label", "task=1", BUSYBOX_IMAGE, "sleep", "300",
      ]);
      const created = await serviceLabels(socket(), name);
      expect(created.service).toMatchObject({ ...DEFAULT_LABELS, svc: "1" });
      expect(created.containerSpec).toMatchObject({ ...DEFAULT_LABELS, task: "1" });
      const [first] = await waitFor("a task container of the new service", async () => {
        const ids = await containerIdsWithLabels(socket(), `com.docker.swarm.service.name=${name}`);
        return ids.length > 0 ? ids : undefined;
      });
      expect(await containerLabels(socket(), first!)).toMatchObject({ ...DEFAULT_LABELS, task: "1" });

      // An update sends the whole spec again; a changed env makes the task be replaced.
      await viaProxy(cli, ["service", "update", "--detach", "--label-add", "updated=1", "--env-add", "UPDATED=1", name]);
      const updated = await serviceLabels(socket(), name);
      expect(updated.service).toMatchObject({ ...DEFAULT_LABELS, svc: "1", updated: "1" });
      expect(updated.containerSpec).toMatchObject({ ...DEFAULT_LABELS, task: "1" });
      const all = await waitFor("the task container that replaces the first", async () => {
        const ids = await containerIdsWithLabels(socket(), `com.docker.swarm.service.name=${name}`);
        return ids.length > 1 ? ids : undefined;
      });
      for (const id of all) expect(await containerLabels(socket(), id)).toMatchObject({ ...DEFAULT_LABELS, task: "1" });
    });

    it("secret create: the secret is labelled, the client's label kept", async () => {
      const name = `${cli.slug}-secret`;
      await viaProxy(cli, ["secret", "create", "--label", "sec=1", name, "-"], {}, { input: "s3cr3t" });
      expect(await secretLabels(socket(), name)).toMatchObject({ ...DEFAULT_LABELS, sec: "1" });
    });

    it("config create: the config is labelled, the client's label kept", async () => {
      const name = `${cli.slug}-config`;
      await viaProxy(cli, ["config", "create", "--label", "cfg=1", name, "-"], {}, { input: "key=value\n" });
      expect(await configLabels(socket(), name)).toMatchObject({ ...DEFAULT_LABELS, cfg: "1" });
    });
  });
});

const COMPOSE_PROJECT = "dcplabels";
describe.skipIf(COMPOSE === undefined)(
  COMPOSE === undefined ? "docker-compose: not on PATH, skipped (apt-get install docker-compose)" : `docker-compose (${COMPOSE})`,
  () => {
    it("up -d: the container, the network and the volume are labelled, compose's own labels kept", async () => {
      const dir = join(work, "compose");
      await mkdir(dir);
      await writeFile(
        join(dir, "docker-compose.yml"),
        `version: "3.7"
services:
  sleeper:
    image: ${BUSYBOX_IMAGE}
    command: ["sleep", "300"]
    labels: { svc: "compose" }
    networks: [backend]
    volumes: ["data:/data"]
networks:
  backend: {}
volumes:
  data: {}
`,
      );
      await runOk(COMPOSE!, ["--project-name", COMPOSE_PROJECT, "up", "-d"], { ...cliOptions(proxy.dockerHost), cwd: dir });
      const ids = await containerIdsWithLabels(socket(), `com.docker.compose.project=${COMPOSE_PROJECT}`);
      expect(ids).toHaveLength(1);
      expect(await containerLabels(socket(), ids[0]!)).toMatchObject({
        ...DEFAULT_LABELS,
        svc: "compose",
        "com.docker.compose.project": COMPOSE_PROJECT,
      });
      expect(await networkLabels(socket(), `${COMPOSE_PROJECT}_backend`)).toMatchObject({
        ...DEFAULT_LABELS,
        "com.docker.compose.project": COMPOSE_PROJECT,
      });
      expect(await volumeLabels(socket(), `${COMPOSE_PROJECT}_data`)).toMatchObject({
        ...DEFAULT_LABELS,
        "com.docker.compose.project": COMPOSE_PROJECT,
      });
    });
  },
);

describe("testcontainers (DOCKER_HOST = the proxy)", () => {
  it("GenericContainer and Network: both labelled, testcontainers' own labels kept", async () => {
    const network = await new testcontainers.Network().start();
    const container = await new testcontainers.GenericContainer(BUSYBOX_IMAGE)
      .withCommand(["sleep", "300"])
      .withLabels({ tc: "1" })
      .withNetwork(network)
      .start();
    try {
      // On the daemon behind the proxy (not some fallback daemon), and labelled there.
      const labels = await containerLabels(socket(), container.getId());
      expect(labels).toMatchObject({ ...DEFAULT_LABELS, tc: "1" });
      expect(Object.keys(labels).some((key) => key.startsWith("org.testcontainers"))).toBe(true);
      expectInjected(await networkLabels(socket(), network.getId()));
    } finally {
      await container.stop({ timeout: 0 });
      await network.stop();
    }
  });
});

describe("dockerode (socketPath = the proxy)", () => {
  let docker: Docker;
  beforeAll(() => {
    docker = new Docker({ socketPath: proxy.socketPath });
  });

  it("createContainer, createNetwork, createVolume: each labelled, the client's labels kept", async () => {
    const container = await docker.createContainer({ Image: BUSYBOX_IMAGE, Cmd: ["true"], Labels: { dockerode: "container" } });
    expect(await containerLabels(socket(), container.id)).toMatchObject({ ...DEFAULT_LABELS, dockerode: "container" });
    const network = await docker.createNetwork({ Name: "dockerode-net", Labels: { dockerode: "network" } });
    expect(await networkLabels(socket(), network.id)).toMatchObject({ ...DEFAULT_LABELS, dockerode: "network" });
    const volume = await docker.createVolume({ Name: "dockerode-vol", Labels: { dockerode: "volume" } });
    expect(volume.name).toBe("dockerode-vol");
    expect(await volumeLabels(socket(), volume.name)).toMatchObject({ ...DEFAULT_LABELS, dockerode: "volume" });
  });
});

describe("custom labels: --ln/--lv, repeated --label and DCP_LABELS", () => {
  let custom: ProxyProcess;
  const EXPECTED = { "ci.owner": "team-a", job: "42", runner: "r1", stage: "test", build: "7" };

  beforeAll(async () => {
    custom = await startProxyProcess({
      dockerSocket: dind.socketPath,
      args: ["--ln", "ci.owner", "--lv", "team-a", "--label", "job=42", "--label", "runner=r1"],
      env: { DCP_LABELS: "stage=test,build=7" },
    });
  });
  afterAll(async () => {
    await custom?.stop();
  });

  it.skipIf(!isExecutable(CLI_20.path))("docker run, network create and volume create carry every configured label, and not the default one", async () => {
    const options = cliOptions(custom.dockerHost);
    const cidFile = join(work, "custom.cid");
    await runOk(CLI_20.path, ["run", "--cidfile", cidFile, "--label", "job=client", BUSYBOX_IMAGE, "true"], options);
    const containerLabelsFound = await containerLabels(socket(), (await readFile(cidFile, "utf8")).trim());
    expect(containerLabelsFound).toMatchObject(EXPECTED);
    expect(containerLabelsFound).not.toHaveProperty(DEFAULT_LABEL_NAME);
    await runOk(CLI_20.path, ["network", "create", "custom-net"], options);
    expect(await networkLabels(socket(), "custom-net")).toEqual(EXPECTED);
    await runOk(CLI_20.path, ["volume", "create", "custom-vol"], options);
    expect(await volumeLabels(socket(), "custom-vol")).toEqual(EXPECTED);
  });
});

describe("raw requests on every spelling of the route", () => {
  it.each([
    "/containers/create",
    "/v1.41/containers/create",
    "/v1.24/containers/create",
    "/v01.41/containers/create",
    "/%63ontainers/create",
    "/containers%2Fcreate",
    "/containers%2fcreate",
    "/v1.41/%63ontainers%2Fcreate",
  ])("POST %s makes a labelled container", async (target) => {
    const answer = await sendRaw(proxy.socketPath, {
      target,
      headers: [["Content-Type", "application/json"]],
      body: JSON.stringify({ Image: BUSYBOX_IMAGE, Cmd: ["true"], Labels: { route: target } }),
    });
    expect(answer.status, answer.text).toBe(201);
    const id = (JSON.parse(answer.text) as { Id: string }).Id;
    expect(await containerLabels(socket(), id)).toMatchObject({ ...DEFAULT_LABELS, route: target });
  });
});

/** A small rootfs: the host's static busybox when there is one, and a file. */
function rootfsTar(): Buffer {
  const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((path) => existsSync(path));
  return tar([
    { name: "bin/" },
    { name: "etc/" },
    { name: "etc/imported", content: "made by labels-every-kind\n" },
    ...(busybox ? [{ name: "bin/busybox", content: readFileSync(busybox), mode: 0o755 }] : []),
  ]);
}
