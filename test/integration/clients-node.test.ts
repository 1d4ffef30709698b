// Node clients through the proxy: testcontainers (its exec is the 200
// raw-stream hijack, without Upgrade headers) and dockerode (attach and exec
// with `hijack: true`, i.e. 101 UPGRADED, stdin and half-close).
//
// testcontainers reads DOCKER_HOST once per process and, if that daemon does
// not answer, silently falls back to /var/run/docker.sock. So: this file's
// dind runs in a child process (startDind uses testcontainers itself, on the
// outer daemon), DOCKER_HOST names the proxy before testcontainers is first
// imported, and every container is looked for in the proxy's log and on the
// daemon behind it.
import { PassThrough } from "node:stream";
import type { Duplex } from "node:stream";
import Docker from "dockerode";
import type { StartedTestContainer } from "testcontainers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerApi } from "./support/docker-api.js";
import type { ProxyProcess } from "./support/proxy-process.js";
import type { ChildDind } from "./support/clients/child-dind.js";
import { type TestcontainersViaProxy, testcontainersViaProxy } from "./support/clients/testcontainers-via-proxy.js";
import { logMark, waitForRequest } from "./support/clients/proxy-log.js";

// Not imported from support/dind.js: that module imports testcontainers.
const BUSYBOX_IMAGE = "local/busybox:latest";

let dind: ChildDind;
let proxy: ProxyProcess;
let testcontainers: typeof import("testcontainers");
let setup: TestcontainersViaProxy | undefined;

beforeAll(async () => {
  setup = await testcontainersViaProxy();
  ({ dind, proxy, testcontainers } = setup);
});

afterAll(async () => {
  await setup?.stop();
});

async function existsOnInnerDaemon(containerId: string): Promise<boolean> {
  return (await dockerApi(dind.socketPath, "GET", `/containers/${containerId}/json`)).status === 200;
}

/** Splits a multiplexed (non-TTY) stream into stdout and stderr text, until it ends. */
function demux(docker: Docker, stream: NodeJS.ReadableStream): Promise<{ stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const text = { stdout: "", stderr: "" };
  stdout.on("data", (chunk: Buffer) => (text.stdout += chunk.toString("utf8")));
  stderr.on("data", (chunk: Buffer) => (text.stderr += chunk.toString("utf8")));
  docker.modem.demuxStream(stream, stdout, stderr);
  return new Promise((resolve, reject) => {
    stream.on("end", () => resolve(text));
    stream.on("close", () => resolve(text));
    stream.on("error", reject);
  });
}

describe("testcontainers through the proxy", () => {
  let container: StartedTestContainer | undefined;

  afterAll(async () => {
    await container?.stop({ timeout: 0 });
  });

  it("starts a container and execs in it (200 raw-stream hijack)", async () => {
    const mark = logMark(proxy);
    container = await new testcontainers.GenericContainer(BUSYBOX_IMAGE).withCommand(["sleep", "300"]).start();
    const id = container.getId();
    // Not on some fallback daemon: behind the proxy, and created through it.
    expect(await existsOnInnerDaemon(id)).toBe(true);
    await waitForRequest(proxy, mark, { method: "POST", route: "/containers/create", status: 201 });
    await waitForRequest(proxy, mark, { method: "POST", route: `/containers/${id}/start`, status: 204 });

    const execMark = logMark(proxy);
    const result = await container.exec(["echo", "hi"]);
    expect(result).toMatchObject({ exitCode: 0, stdout: "hi\n", stderr: "" });
    await waitForRequest(proxy, execMark, { method: "POST", route: `/containers/${id}/exec`, status: 201 });
    // No Upgrade header: the daemon answers 200 with a raw stream, and the proxy must treat it as hijacked.
    await waitForRequest(proxy, execMark, { method: "POST", route: /^\/exec\/[0-9a-f]{64}\/start$/, status: 200, hijacked: true });
  });
});

describe("dockerode through the proxy", () => {
  let docker: Docker;

  beforeAll(() => {
    docker = new Docker({ socketPath: proxy.socketPath });
  });

  it("attaches with hijack, writes stdin, half-closes and reads the output back", async () => {
    const container = await docker.createContainer({
      Image: BUSYBOX_IMAGE,
      Cmd: ["cat"],
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
    });
    expect(await existsOnInnerDaemon(container.id)).toBe(true);
    const mark = logMark(proxy);
    const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
    const output = demux(docker, stream);
    await container.start();
    stream.write("ping\n");
    // Half-close: cat sees EOF and exits; its output must still arrive.
    stream.end();
    expect(await output).toEqual({ stdout: "ping\n", stderr: "" });
    expect(await container.wait()).toMatchObject({ StatusCode: 0 });
    await waitForRequest(proxy, mark, { method: "POST", route: `/containers/${container.id}/attach`, status: 101, hijacked: true });
    await container.remove();
  });

  it("execs with stdin, stdout and stderr and reports the exit code", async () => {
    const container = await docker.createContainer({ Image: BUSYBOX_IMAGE, Cmd: ["sleep", "300"] });
    await container.start();
    const mark = logMark(proxy);
    const exec = await container.exec({
      Cmd: ["sh", "-c", "cat; echo to-stderr >&2; exit 4"],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = (await exec.start({ hijack: true, stdin: true })) as Duplex;
    const output = demux(docker, stream);
    stream.write("pong\n");
    stream.end();
    expect(await output).toEqual({ stdout: "pong\n", stderr: "to-stderr\n" });
    expect(await exec.inspect()).toMatchObject({ Running: false, ExitCode: 4 });
    await waitForRequest(proxy, mark, { method: "POST", route: `/exec/${exec.id}/start`, status: 101, hijacked: true });
    await container.remove({ force: true });
  });
});
