// docker-compose 1.29 (Python, docker-py: a client that is not the Go CLI)
// brings a small project up and down through the proxy: a service with a
// named network and a named volume. What it made is checked on the daemon
// behind the proxy, and its create calls in the proxy's log.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSYBOX_IMAGE, type Dind, dockerApi, startDind } from "./support/dind.js";
import { type ProxyProcess, startProxyProcess } from "./support/proxy-process.js";
import { dockerClientEnv, findOnPath, runOk } from "./support/clients/commands.js";
import { logMark, waitForRequest } from "./support/clients/proxy-log.js";

const COMPOSE = findOnPath("docker-compose");
const PROJECT = "dcpcompose";
const COMPOSE_FILE = `version: "3.7"
services:
  sleeper:
    image: ${BUSYBOX_IMAGE}
    command: ["sleep", "300"]
    networks: [backend]
    volumes: ["data:/data"]
networks:
  backend: {}
volumes:
  data: {}
`;

describe.skipIf(COMPOSE === undefined)(
  COMPOSE === undefined ? "docker-compose: not on PATH, skipped (apt-get install docker-compose)" : `docker-compose (${COMPOSE}) through the proxy`,
  () => {
    let dind: Dind;
    let proxy: ProxyProcess;
    let work: string;

    beforeAll(async () => {
      dind = await startDind();
      proxy = await startProxyProcess({ dockerSocket: dind.socketPath });
      work = await mkdtemp(join(tmpdir(), "dcp-clients-compose-"));
      await mkdir(join(work, "docker-config"));
      await writeFile(join(work, "docker-compose.yml"), COMPOSE_FILE);
    });

    afterAll(async () => {
      await proxy?.stop();
      await dind?.stop();
      if (work) await rm(work, { recursive: true, force: true });
    });

    const compose = (...args: string[]) =>
      runOk(COMPOSE!, ["--project-name", PROJECT, ...args], {
        env: dockerClientEnv(proxy.dockerHost, join(work, "docker-config")),
        cwd: work,
        timeoutMs: 90_000,
      });

    async function projectContainers(): Promise<Array<{ Id: string; State: string }>> {
      const filters = encodeURIComponent(JSON.stringify({ label: [`com.docker.compose.project=${PROJECT}`] }));
      const res = await dockerApi(dind.socketPath, "GET", `/containers/json?all=1&filters=${filters}`);
      expect(res.status).toBe(200);
      return JSON.parse(res.body) as Array<{ Id: string; State: string }>;
    }
    const innerStatus = async (path: string) => (await dockerApi(dind.socketPath, "GET", path)).status;

    it("up -d creates the service, its network and volume; down removes them", async () => {
      const upMark = logMark(proxy);
      await compose("up", "-d");
      const containers = await projectContainers();
      expect(containers).toHaveLength(1);
      expect(containers[0]?.State).toBe("running");
      expect(await innerStatus(`/networks/${PROJECT}_backend`)).toBe(200);
      expect(await innerStatus(`/volumes/${PROJECT}_data`)).toBe(200);
      await waitForRequest(proxy, upMark, { method: "POST", route: "/networks/create", status: 201 });
      await waitForRequest(proxy, upMark, { method: "POST", route: "/volumes/create", status: 201 });
      await waitForRequest(proxy, upMark, { method: "POST", route: "/containers/create", status: 201 });
      await waitForRequest(proxy, upMark, { method: "POST", route: `/containers/${containers[0]?.Id}/start`, status: 204 });

      const downMark = logMark(proxy);
      // -t 1: sleep as PID 1 ignores SIGTERM; -v: the named volume goes too.
      await compose("down", "--volumes", "--timeout", "1");
      expect(await projectContainers()).toEqual([]);
      expect(await innerStatus(`/networks/${PROJECT}_backend`)).toBe(404);
      expect(await innerStatus(`/volumes/${PROJECT}_data`)).toBe(404);
      await waitForRequest(proxy, downMark, { method: "DELETE", route: `/containers/${containers[0]?.Id}`, status: 204 });
    });
  },
);
