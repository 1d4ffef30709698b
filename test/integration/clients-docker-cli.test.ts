// The real docker CLI, both generations this project meets (28 and 20.10),
// pointed at the proxy: every kind of exchange a CLI user causes (plain
// calls, hijacked attach/exec with stdin and half-close, a TTY, followed
// streams, wait, big uploads and downloads, builds) must work through it.
// Each test also finds its requests in the proxy's log, so none can pass with
// the proxy out of the path.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useDindAndProxy } from "./support/dind-with-proxy.js";
import { BUSYBOX_IMAGE, type Dind, dockerApi } from "./support/dind.js";
import type { ProxyProcess } from "./support/proxy-process.js";
import { dockerClientEnv, isExecutable, runCommand, runOk, startCommand } from "./support/clients/commands.js";
import type { CommandOptions } from "./support/clients/commands.js";
import { logMark, waitForRequest } from "./support/clients/proxy-log.js";

interface Cli {
  label: string;
  path: string;
  /** Short and unique, for the names of what a test creates. */
  slug: string;
  /** `DOCKER_BUILDKIT=1 docker build` calls `/build?version=2` over a hijacked `/session` (20.10; later CLIs need buildx). */
  buildKitViaBuildEndpoint: boolean;
}

const CLIS: Cli[] = [
  { label: "docker CLI 28", path: "/usr/local/bin/docker", slug: "cli28", buildKitViaBuildEndpoint: false },
  { label: "docker CLI 20.10", path: "/usr/bin/docker", slug: "cli20", buildKitViaBuildEndpoint: true },
];

const COMMAND_TIMEOUT_MS = 60_000;
const BIG_FILE_BYTES = 100 * 1024 * 1024;
const CONTAINER_ID = /^[0-9a-f]{64}$/;

let dind: Dind;
let proxy: ProxyProcess;
let work: string;

useDindAndProxy((started) => ({ dind, proxy } = started));

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "dcp-clients-cli-"));
  await mkdir(join(work, "docker-config"));
  // Incompressible, so nothing on the way can shrink it.
  const big = Buffer.alloc(BIG_FILE_BYTES);
  for (let offset = 0; offset < big.length; offset += 1 << 20) randomBytes(1 << 20).copy(big, offset);
  await writeFile(join(work, "big.bin"), big);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function innerStatus(path: string): Promise<number> {
  return (await dockerApi(dind.socketPath, "GET", path)).status;
}

describe.each(CLIS)("$label", (cli) => {
  const installed = isExecutable(cli.path);

  describe.skipIf(!installed)(installed ? `${cli.path} through the proxy` : `${cli.path} is not installed: skipped`, () => {
    function options(extra: Partial<CommandOptions> = {}, env: NodeJS.ProcessEnv = {}): CommandOptions {
      return { env: dockerClientEnv(proxy.dockerHost, join(work, "docker-config"), env), timeoutMs: COMMAND_TIMEOUT_MS, ...extra };
    }
    const docker = (args: string[], extra?: Partial<CommandOptions>, env?: NodeJS.ProcessEnv) => runCommand(cli.path, args, options(extra, env));
    const dockerOk = (args: string[], extra?: Partial<CommandOptions>, env?: NodeJS.ProcessEnv) => runOk(cli.path, args, options(extra, env));
    /** `docker run -d …`: the new container's ID. */
    async function runDetached(...args: string[]): Promise<string> {
      const id = (await dockerOk(["run", "-d", BUSYBOX_IMAGE, ...args])).stdout.trim();
      expect(id).toMatch(CONTAINER_ID);
      return id;
    }
    let cidCount = 0;
    const cidFile = () => join(work, `${cli.slug}-${++cidCount}.cid`);
    const readCid = async (file: string) => (await readFile(file, "utf8")).trim();

    it("version shows the daemon's version", async () => {
      const mark = logMark(proxy);
      const { stdout } = await dockerOk(["version", "--format", "{{.Server.Version}}"]);
      const inner = JSON.parse((await dockerApi(dind.socketPath, "GET", "/version")).body) as { Version: string };
      expect(stdout.trim()).toBe(inner.Version);
      await waitForRequest(proxy, mark, { method: "GET", route: "/version", status: 200 });
    });

    it("run --rm prints the output and returns the exit code", async () => {
      const mark = logMark(proxy);
      const echoCid = cidFile();
      const echo = await docker(["run", "--rm", "--cidfile", echoCid, BUSYBOX_IMAGE, "echo", "hello from busybox"]);
      expect(echo).toMatchObject({ code: 0, stdout: "hello from busybox\n" });
      const exitCid = cidFile();
      const exit3 = await docker(["run", "--rm", "--cidfile", exitCid, BUSYBOX_IMAGE, "sh", "-c", "exit 3"]);
      expect(exit3.code).toBe(3);

      await waitForRequest(proxy, mark, { method: "POST", route: "/containers/create", status: 201 });
      for (const id of [await readCid(echoCid), await readCid(exitCid)]) {
        await waitForRequest(proxy, mark, { method: "POST", route: `/containers/${id}/attach`, status: 101, hijacked: true });
        await waitForRequest(proxy, mark, { method: "POST", route: `/containers/${id}/wait`, status: 200 });
      }
    });

    it("run -i passes piped stdin through and half-closes it", async () => {
      const mark = logMark(proxy);
      const cid = cidFile();
      // cat only exits when its stdin ends: the CLI's half-close must reach the container,
      // and the output written after it must still reach the CLI.
      const result = await docker(["run", "-i", "--rm", "--cidfile", cid, BUSYBOX_IMAGE, "cat"], { input: "a\nb\n" });
      expect(result).toMatchObject({ code: 0, stdout: "a\nb\n" });
      await waitForRequest(proxy, mark, { method: "POST", route: `/containers/${await readCid(cid)}/attach`, status: 101, hijacked: true });
    });

    it("run -it gets a terminal", async () => {
      const mark = logMark(proxy);
      const cid = cidFile();
      // script(1) gives the CLI a pseudo-terminal; stdin stays open (no EOF), as from a user.
      const result = await runCommand(
        "script",
        ["-qec", `${cli.path} run -it --rm --cidfile ${cid} ${BUSYBOX_IMAGE} tty`, "/dev/null"],
        options({ holdStdin: true }),
      );
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/\/dev\/pts\/\d+\r?\n/);
      await waitForRequest(proxy, mark, { method: "POST", route: `/containers/${await readCid(cid)}/attach`, status: 101, hijacked: true });
    });

    it("exec -i passes stdin to the process and its output back", async () => {
      const id = await runDetached("sleep", "300");
      const mark = logMark(proxy);
      const result = await docker(["exec", "-i", id, "cat"], { input: "x\ny\n" });
      expect(result).toMatchObject({ code: 0, stdout: "x\ny\n" });
      await waitForRequest(proxy, mark, { method: "POST", route: `/containers/${id}/exec`, status: 201 });
      await waitForRequest(proxy, mark, { method: "POST", route: /^\/exec\/[0-9a-f]{64}\/start$/, status: 101, hijacked: true });
      await dockerOk(["rm", "-f", id]);
    });

    it("logs -f streams lines as the container writes them", async () => {
      const id = await runDetached("sh", "-c", "echo first; sleep 2; echo second; sleep 300");
      const mark = logMark(proxy);
      const started = Date.now();
      const follow = startCommand(cli.path, ["logs", "-f", id], options());
      try {
        await follow.waitForStdout((out) => out.includes("first\n"), 3_000);
        expect(Date.now() - started).toBeLessThan(3_000);
        // Written after the CLI started following: it must arrive while the stream stays open.
        await follow.waitForStdout((out) => out.includes("second\n"), 10_000);
        expect(follow.running).toBe(true);
        expect(follow.stdout).toBe("first\nsecond\n");
        const state = JSON.parse((await dockerApi(dind.socketPath, "GET", `/containers/${id}/json`)).body) as { State: { Running: boolean } };
        expect(state.State.Running).toBe(true);
      } finally {
        await follow.stop();
      }
      await waitForRequest(proxy, mark, { method: "GET", route: `/containers/${id}/logs`, status: 200 });
      await dockerOk(["rm", "-f", id]);
    });

    it("events shows a container being created", async () => {
      const name = `events-${cli.slug}`;
      const mark = logMark(proxy);
      // --since: the create is reported even if it happens before the stream is set up.
      const since = String(Math.floor(Date.now() / 1000) - 1);
      const events = startCommand(
        cli.path,
        ["events", "--since", since, "--filter", "type=container", "--filter", `container=${name}`, "--format", "{{.Action}} {{.Actor.Attributes.name}}"],
        options(),
      );
      try {
        await dockerOk(["create", "--name", name, BUSYBOX_IMAGE, "true"]);
        await events.waitForStdout((out) => out.includes(`create ${name}\n`), 10_000);
        expect(events.running).toBe(true);
      } finally {
        await events.stop();
      }
      await waitForRequest(proxy, mark, { method: "GET", route: "/events", status: 200 });
      await dockerOk(["rm", "-f", name]);
    });

    it("wait prints the container's exit code", async () => {
      const id = await runDetached("sh", "-c", "sleep 1; exit 7");
      const mark = logMark(proxy);
      const result = await dockerOk(["wait", id]);
      expect(result.stdout).toBe("7\n");
      await waitForRequest(proxy, mark, { method: "POST", route: `/containers/${id}/wait`, status: 200 });
      await dockerOk(["rm", id]);
    });

    it("cp copies 100 MB into a container and back unchanged", async () => {
      const id = (await dockerOk(["create", BUSYBOX_IMAGE, "sleep", "300"])).stdout.trim();
      const mark = logMark(proxy);
      const back = join(work, `${cli.slug}-big.back`);
      await dockerOk(["cp", join(work, "big.bin"), `${id}:/big.bin`]);
      await dockerOk(["cp", `${id}:/big.bin`, back]);
      const cmp = await runCommand("cmp", [join(work, "big.bin"), back], options());
      expect(cmp.code, cmp.stdout + cmp.stderr).toBe(0);
      await waitForRequest(proxy, mark, { method: "PUT", route: `/containers/${id}/archive`, status: 200 });
      const download = await waitForRequest(proxy, mark, { method: "GET", route: `/containers/${id}/archive`, status: 200 });
      expect(download.bytesOut).toBeGreaterThan(BIG_FILE_BYTES);
      await rm(back, { force: true });
      await dockerOk(["rm", id]);
    });

    it("save and load round-trip an image", async () => {
      const tag = `roundtrip-${cli.slug}:1`;
      const tar = join(work, `${cli.slug}-image.tar`);
      await dockerOk(["tag", BUSYBOX_IMAGE, tag]);
      const mark = logMark(proxy);
      await dockerOk(["save", "-o", tar, tag]);
      await dockerOk(["rmi", tag]);
      expect(await innerStatus(`/images/${tag}/json`)).toBe(404);
      const loaded = await dockerOk(["load", "-i", tar]);
      expect(loaded.stdout).toContain(`Loaded image: ${tag}`);
      expect(await innerStatus(`/images/${tag}/json`)).toBe(200);
      await waitForRequest(proxy, mark, { method: "GET", route: "/images/get", status: 200 });
      await waitForRequest(proxy, mark, { method: "POST", route: "/images/load", status: 200 });
      await rm(tar, { force: true });
    });

    async function buildContext(name: string): Promise<string> {
      const dir = join(work, `${cli.slug}-${name}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, "Dockerfile"), `FROM ${BUSYBOX_IMAGE}\nRUN echo ${name} > /built.txt\nCOPY hello.txt /hello.txt\n`);
      await writeFile(join(dir, "hello.txt"), `hello from ${cli.slug}\n`);
      return dir;
    }

    it("builds with the classic builder (DOCKER_BUILDKIT=0)", async () => {
      const tag = `classic-${cli.slug}:1`;
      const context = await buildContext("classic");
      const mark = logMark(proxy);
      await dockerOk(["build", "-t", tag, context], {}, { DOCKER_BUILDKIT: "0" });
      expect(await innerStatus(`/images/${tag}/json`)).toBe(200);
      const run = await dockerOk(["run", "--rm", tag, "cat", "/built.txt", "/hello.txt"]);
      expect(run.stdout).toBe(`classic\nhello from ${cli.slug}\n`);
      await waitForRequest(proxy, mark, { method: "POST", route: "/build", status: 200 });
    });

    it.runIf(cli.buildKitViaBuildEndpoint)("builds with BuildKit (DOCKER_BUILDKIT=1: hijacked /session, /build?version=2)", async () => {
      const tag = `buildkit-${cli.slug}:1`;
      const context = await buildContext("buildkit");
      const mark = logMark(proxy);
      await dockerOk(["build", "--progress", "plain", "-t", tag, context], {}, { DOCKER_BUILDKIT: "1" });
      expect(await innerStatus(`/images/${tag}/json`)).toBe(200);
      const run = await dockerOk(["run", "--rm", tag, "cat", "/built.txt", "/hello.txt"]);
      expect(run.stdout).toBe(`buildkit\nhello from ${cli.slug}\n`);
      // The daemon drives the build context and Dockerfile through the session (h2c, gRPC).
      await waitForRequest(proxy, mark, { method: "POST", route: "/session", status: 101, hijacked: true });
      await waitForRequest(proxy, mark, { method: "POST", route: "/build", status: 200 });
    });
  });
});
