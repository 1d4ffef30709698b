// What users install: the npm package (packed, installed elsewhere, run with
// npx) and the container image (built offline by the fixtures), run for real.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { outerDocker } from "./support/outer-docker.js";
import { RawConnection } from "./support/raw-http.js";

const run = promisify(execFile);
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const PROXY_IMAGE = "local/dockerd-ci-proxy:latest";
const { version } = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { version: string };
const cleanup: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

describe("the npm package", () => {
  it("packs, installs from the tarball elsewhere, and runs with npx", async () => {
    const work = await mkdtemp(join(tmpdir(), "dcp-pack-"));
    cleanup.push(() => rm(work, { recursive: true, force: true }));
    const { stdout: packed } = await run("npm", ["pack", "--pack-destination", work, "--silent"], { cwd: REPO });
    const tarball = join(work, packed.trim().split("\n").pop()!);
    await run("npm", ["init", "-y"], { cwd: work });
    await run("npm", ["install", "--no-audit", "--no-fund", tarball], { cwd: work, timeout: 180_000 });
    const { stdout } = await run("npx", ["--no-install", "dockerd-ci-proxy", "--version"], { cwd: work });
    expect(stdout.trim()).toBe(version);
    const { stdout: help } = await run("npx", ["--no-install", "dockerd-ci-proxy", "--help"], { cwd: work });
    expect(help).toContain("--dockersocket");
  }, 240_000);
});

describe("the container image", () => {
  const docker = outerDocker();
  const dockerEnv = { ...process.env, DOCKER_HOST: docker.dockerHost };

  it("prints its version", async () => {
    const { stdout } = await run("/usr/bin/docker", ["run", "--rm", PROXY_IMAGE, "--version"], { env: dockerEnv });
    expect(stdout.trim()).toBe(version);
  });

  it("proxies the daemon socket mounted into it", async () => {
    const shared = await mkdtemp(join("/tmp", "dcp-image-"));
    cleanup.push(() => rm(shared, { recursive: true, force: true }));
    const { stdout: id } = await run(
      "/usr/bin/docker",
      ["run", "-d", "-v", `${docker.socketPath}:/var/run/docker.sock`, "-v", `${shared}:/run/dcp`, PROXY_IMAGE, "--ls", "/run/dcp/proxy.sock"],
      { env: dockerEnv },
    );
    cleanup.push(() => run("/usr/bin/docker", ["rm", "-f", id.trim()], { env: dockerEnv }));
    const socket = join(shared, "proxy.sock");
    const deadline = Date.now() + 20_000;
    let connection: RawConnection | undefined;
    while (!connection) {
      connection = await RawConnection.open(socket).catch(() => undefined);
      if (!connection && Date.now() > deadline) throw new Error("the proxy in the image never listened");
      if (!connection) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    connection.close();
    const { stdout } = await run("/usr/bin/docker", ["-H", `unix://${socket}`, "version", "--format", "{{.Server.Version}}"]);
    expect(stdout.trim()).toMatch(/^\d+\.\d+/);
    const { stdout: logs } = await run("/usr/bin/docker", ["logs", id.trim()], { env: dockerEnv });
    expect(logs).toContain('"route":"/version"');
  }, 60_000);
});
