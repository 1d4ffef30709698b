// The point of the label: a job's leftovers can be reaped on the daemon
// DIRECTLY with `docker … prune --filter label=Created-Via=dockerd-ci-proxy`,
// and that takes exactly what was made through the proxy, never what was made
// beside it. Things made directly here come from the base image, which carries
// no Created-Via label (checked): a container made directly from an image
// BUILT through the proxy would inherit the label, and be reaped with it.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useDindAndProxy } from "./support/dind-with-proxy.js";
import { BUSYBOX_IMAGE, type Dind, dockerApi } from "./support/dind.js";
import type { ProxyProcess } from "./support/proxy-process.js";
import { dockerClientEnv, isExecutable, runOk } from "./support/clients/commands.js";
import {
  DEFAULT_LABEL_NAME,
  DEFAULT_LABEL_VALUE,
  exists,
  getJson,
  imageLabels,
} from "./support/labels/daemon-state.js";
import { dockerfileContext, tar } from "./support/labels/tar.js";
import { sendRaw } from "./support/labels/raw-request.js";

// The 20.10 CLI matches the daemon under test; the 28 one is used too where present.
const CLI = "/usr/bin/docker";
const CLI_28 = "/usr/local/bin/docker";
const FILTER = `label=${DEFAULT_LABEL_NAME}=${DEFAULT_LABEL_VALUE}`;
const TIMEOUT_MS = 60_000;

let dind: Dind;
let proxy: ProxyProcess;
let work: string;

useDindAndProxy((started) => ({ dind, proxy } = started));

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "dcp-labels-prune-"));
  await mkdir(join(work, "docker-config"));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const env = (dockerHost: string) => dockerClientEnv(dockerHost, join(work, "docker-config"));
/** A docker CLI through the proxy. */
const viaProxy = (args: string[], cli = CLI) => runOk(cli, args, { env: env(proxy.dockerHost), timeoutMs: TIMEOUT_MS });
/** The 20.10 CLI on the daemon directly. */
const direct = (args: string[]) => runOk(CLI, args, { env: env(dind.dockerHost), timeoutMs: TIMEOUT_MS });
const ids = (stdout: string) => stdout.trim();

describe.skipIf(!isExecutable(CLI))("prune by the proxy's label, on the daemon directly", () => {
  it("the base image carries no Created-Via label of its own", async () => {
    expect(await imageLabels(dind.socketPath, BUSYBOX_IMAGE)).not.toHaveProperty(DEFAULT_LABEL_NAME);
  });

  it("container prune removes the stopped containers made through the proxy, none made directly, no running one", async () => {
    const cli28 = isExecutable(CLI_28) ? CLI_28 : CLI;
    const proxyStopped = [
      ids((await viaProxy(["create", BUSYBOX_IMAGE, "true"])).stdout),
      ids((await viaProxy(["create", "--label", "job=1", BUSYBOX_IMAGE, "true"], cli28)).stdout),
      ids((await viaProxy(["run", "-d", BUSYBOX_IMAGE, "true"])).stdout),
    ];
    const raw = await sendRaw(proxy.socketPath, {
      target: "/v1.41/containers/create",
      headers: [["Content-Type", "application/json"]],
      body: JSON.stringify({ Image: BUSYBOX_IMAGE, Cmd: ["true"] }),
    });
    expect(raw.status, raw.text).toBe(201);
    proxyStopped.push((JSON.parse(raw.text) as { Id: string }).Id);
    const proxyRunning = ids((await viaProxy(["run", "-d", BUSYBOX_IMAGE, "sleep", "300"])).stdout);

    const directStopped = [
      ids((await direct(["create", BUSYBOX_IMAGE, "true"])).stdout),
      ids((await direct(["create", "--label", "job=1", "--label", `${DEFAULT_LABEL_NAME}=something-else`, BUSYBOX_IMAGE, "true"])).stdout),
      ids((await direct(["run", "-d", BUSYBOX_IMAGE, "true"])).stdout),
    ];
    // `run -d … true` has exited before prune looks (prune only takes stopped containers).
    await direct(["wait", proxyStopped[2]!, directStopped[2]!]);

    const pruned = await direct(["container", "prune", "--filter", FILTER, "-f"]);
    for (const id of proxyStopped) {
      expect(pruned.stdout).toContain(id);
      expect(await exists(dind.socketPath, `/containers/${id}/json`), `proxy-made ${id}`).toBe(false);
    }
    for (const id of directStopped) {
      expect(pruned.stdout).not.toContain(id);
      expect(await exists(dind.socketPath, `/containers/${id}/json`), `directly made ${id}`).toBe(true);
    }
    expect(await exists(dind.socketPath, `/containers/${proxyRunning}/json`)).toBe(true);
    await direct(["rm", "-f", proxyRunning]);
  });

  it("network prune and volume prune take the proxy's networks and volumes only", async () => {
    await viaProxy(["network", "create", "via-proxy-net"]);
    await viaProxy(["volume", "create", "via-proxy-vol"]);
    // Made on the fly by --mount: labelled through VolumeOptions, so reaped too.
    const mounter = ids((await viaProxy(["create", "--mount", "type=volume,source=via-proxy-mounted,target=/d", BUSYBOX_IMAGE, "true"])).stdout);
    await direct(["rm", mounter]);
    await direct(["network", "create", "direct-net"]);
    await direct(["volume", "create", "direct-vol"]);

    await direct(["network", "prune", "--filter", FILTER, "-f"]);
    await direct(["volume", "prune", "--filter", FILTER, "-f"]);
    expect(await exists(dind.socketPath, "/networks/via-proxy-net")).toBe(false);
    expect(await exists(dind.socketPath, "/volumes/via-proxy-vol")).toBe(false);
    expect(await exists(dind.socketPath, "/volumes/via-proxy-mounted")).toBe(false);
    expect(await exists(dind.socketPath, "/networks/direct-net")).toBe(true);
    expect(await exists(dind.socketPath, "/volumes/direct-vol")).toBe(true);
  });

  it("image prune -a takes the images built, imported and committed through the proxy, none made directly", async () => {
    const build = (socketPath: string, tag: string) =>
      sendRaw(socketPath, {
        target: `/build?t=${tag}&rm=1`,
        headers: [["Content-Type", "application/x-tar"]],
        body: dockerfileContext(`FROM ${BUSYBOX_IMAGE}\nLABEL made-for=${tag}\n`),
      }, TIMEOUT_MS);
    for (const [socketPath, tag] of [[proxy.socketPath, "via-proxy-built"], [dind.socketPath, "direct-built"]] as const) {
      const answer = await build(socketPath, tag);
      expect(answer.status).toBe(200);
      expect(answer.text).not.toContain("errorDetail");
    }
    for (const [socketPath, repo] of [[proxy.socketPath, "via-proxy-imported"], [dind.socketPath, "direct-imported"]] as const) {
      const answer = await sendRaw(socketPath, {
        target: `/images/create?fromSrc=-&repo=${repo}&tag=latest`,
        headers: [["Content-Type", "application/x-tar"]],
        body: tar([{ name: "etc/" }, { name: "etc/imported", content: repo }]),
      });
      expect(answer.status).toBe(200);
      expect(answer.text).not.toContain("errorDetail");
    }
    const source = ids((await direct(["create", BUSYBOX_IMAGE, "true"])).stdout);
    await viaProxy(["commit", source, "via-proxy-committed"]);
    await direct(["commit", source, "direct-committed"]);

    await direct(["image", "prune", "-a", "--filter", FILTER, "-f"]);
    expect(await exists(dind.socketPath, "/images/via-proxy-built/json")).toBe(false);
    expect(await exists(dind.socketPath, "/images/via-proxy-committed/json")).toBe(false);
    expect(await exists(dind.socketPath, "/images/via-proxy-imported/json")).toBe(false);
    expect(await exists(dind.socketPath, "/images/direct-imported/json")).toBe(true);
    expect(await exists(dind.socketPath, "/images/direct-built/json")).toBe(true);
    expect(await exists(dind.socketPath, "/images/direct-committed/json")).toBe(true);
    expect(await exists(dind.socketPath, `/images/${BUSYBOX_IMAGE}/json`)).toBe(true);
    // Nothing labelled is left among the top-level images.
    const left = await getJson<Array<{ RepoTags: string[] | null; Labels: Record<string, string> | null }>>(dind.socketPath, "/images/json");
    expect(left.filter((image) => image.Labels?.[DEFAULT_LABEL_NAME] === DEFAULT_LABEL_VALUE)).toEqual([]);
    await dockerApi(dind.socketPath, "DELETE", `/containers/${source}`);
  });
});
