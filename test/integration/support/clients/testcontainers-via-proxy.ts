// testcontainers pointed at a proxy: DOCKER_HOST must name the proxy BEFORE
// testcontainers is first imported (it reads it once per process and, when
// that daemon fails, silently falls back to /var/run/docker.sock). So the
// dind runs in a child process (startDind itself uses testcontainers), and
// the module is imported dynamically here.
import { startChildDind, type ChildDind } from "./child-dind.js";
import { startProxyProcess, type ProxyProcess } from "../proxy-process.js";

export interface TestcontainersViaProxy {
  readonly dind: ChildDind;
  readonly proxy: ProxyProcess;
  readonly testcontainers: typeof import("testcontainers");
  /** Stops the proxy and the dind and restores the environment. */
  stop(): Promise<void>;
}

export async function testcontainersViaProxy(): Promise<TestcontainersViaProxy> {
  const saved = {
    DOCKER_HOST: process.env["DOCKER_HOST"],
    TESTCONTAINERS_RYUK_DISABLED: process.env["TESTCONTAINERS_RYUK_DISABLED"],
    TESTCONTAINERS_HOST_OVERRIDE: process.env["TESTCONTAINERS_HOST_OVERRIDE"],
  };
  const dind = await startChildDind(process.env["DOCKER_HOST"]);
  const proxy = await startProxyProcess({ dockerSocket: dind.socketPath });
  process.env["DOCKER_HOST"] = proxy.dockerHost;
  // Ryuk's image cannot be pulled here, and nothing outlives the dind anyway.
  process.env["TESTCONTAINERS_RYUK_DISABLED"] = "true";
  // In a container (/.dockerenv), testcontainers looks for the host's address
  // by running alpine:3.14, which it tries to pull first; with no registry
  // that pull took 20 s where the daemon's DNS times out. The daemon is
  // reached over a UNIX socket and no port is published: localhost it is.
  process.env["TESTCONTAINERS_HOST_OVERRIDE"] = "localhost";
  const testcontainers = await import("testcontainers");
  return {
    dind,
    proxy,
    testcontainers,
    async stop() {
      await proxy.stop();
      await dind.stop();
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    },
  };
}
