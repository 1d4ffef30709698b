// Checks the test fixture itself, without the proxy: if this file fails, every
// other integration failure is about the environment, not the code.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DIND_LABEL, dockerApi, startDind } from "./support/dind.js";
import type { Dind } from "./support/dind.js";
import { outerDocker } from "./support/outer-docker.js";

const run = promisify(execFile);
// The 20.10 CLI from docker.io: the one that matches the daemon under test.
const DOCKER_CLI = "/usr/bin/docker";

describe("dind fixture", () => {
  let dind: Dind;

  beforeAll(async () => {
    dind = await startDind();
  });

  afterAll(async () => {
    await dind?.stop();
  });

  it("answers /_ping on the host-side socket", async () => {
    const ping = await dockerApi(dind.socketPath, "GET", "/_ping");
    expect(ping.status).toBe(200);
    expect(ping.body).toBe("OK");
    expect(ping.headers["api-version"]).toMatch(/^1\.\d+$/);
  });

  it("runs local/busybox through the docker CLI, talking to the inner daemon directly", async () => {
    const { stdout } = await run(DOCKER_CLI, ["run", "--rm", "local/busybox", "echo", "hi"], {
      env: { ...process.env, DOCKER_HOST: dind.dockerHost },
    });
    expect(stdout).toBe("hi\n");
  });

  it("is a daemon of its own, not the outer one", async () => {
    const inner = JSON.parse((await dockerApi(dind.socketPath, "GET", "/info")).body) as { ID: string };
    const outer = JSON.parse((await dockerApi(outerDocker().socketPath, "GET", "/info")).body) as { ID: string };
    expect(inner.ID).not.toBe(outer.ID);
  });

  it("was started by testcontainers on the daemon in $DOCKER_HOST", async () => {
    const { socketPath, dockerHost } = outerDocker();
    expect(dockerHost).toBe(process.env["DOCKER_HOST"]);
    const filters = encodeURIComponent(JSON.stringify({ label: [DIND_LABEL] }));
    const res = await dockerApi(socketPath, "GET", `/containers/json?filters=${filters}`);
    expect(res.status).toBe(200);
    const listed = JSON.parse(res.body) as Array<{ Id: string; Labels: Record<string, string> }>;
    const mine = listed.find((c) => c.Id === dind.containerId);
    expect(mine, `dind ${dind.containerId} not listed by ${dockerHost}`).toBeDefined();
    // Set by testcontainers on everything it creates.
    expect(mine?.Labels["org.testcontainers"]).toBe("true");
  });

  it("stop() removes the container and the socket dir, and can be called twice", async () => {
    await dind.stop();
    await dind.stop();
    const inspect = await dockerApi(outerDocker().socketPath, "GET", `/containers/${dind.containerId}/json`);
    expect(inspect.status).toBe(404);
    expect(existsSync(dirname(dind.socketPath))).toBe(false);
  });
});
