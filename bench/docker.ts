/**
 * The Docker side of the benchmark: which daemon, whether it answers, and the
 * fixtures the container workloads need (a container holding a large file,
 * a tar to upload), plus cleanup of everything the benchmark created.
 */
import { HttpConnection, type BodySource, jsonBody, requestOnce } from "./http-client.js";

export const BENCH_LABEL = "dockerd-ci-proxy.bench";
export const IMAGE = "local/busybox";

export interface DaemonInfo {
  readonly socketPath: string;
  readonly version: string;
  readonly apiVersion: string;
}

/** `$DOCKER_HOST` when it is a unix:// socket, else /var/run/docker.sock. */
export function daemonSocketFromEnv(env: NodeJS.ProcessEnv): { path: string; note?: string } {
  const host = env["DOCKER_HOST"];
  if (host && host.startsWith("unix://")) return { path: host.slice("unix://".length) };
  if (host) return { path: "/var/run/docker.sock", note: `DOCKER_HOST=${host} is not a unix:// socket; using /var/run/docker.sock` };
  return { path: "/var/run/docker.sock" };
}

export async function checkDaemon(socketPath: string): Promise<DaemonInfo> {
  try {
    const ping = await requestOnce(socketPath, { method: "GET", path: "/_ping", timeoutMs: 5000 });
    if (ping.status !== 200) throw new Error(`GET /_ping answered ${ping.status}`);
    const version = await requestOnce(socketPath, { method: "GET", path: "/version", timeoutMs: 5000 });
    const info = JSON.parse(version.body.toString()) as { Version?: string; ApiVersion?: string };
    return { socketPath, version: info.Version ?? "?", apiVersion: info.ApiVersion ?? "?" };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `cannot reach the Docker daemon at ${socketPath}: ${reason}\n` +
        "Start one, or point the benchmark at it: DOCKER_HOST=unix:///path/to/docker.sock npm run bench",
    );
  }
}

export async function imageExists(socketPath: string, image: string): Promise<boolean> {
  const response = await requestOnce(socketPath, { method: "GET", path: `/images/${image}/json`, timeoutMs: 10_000 });
  return response.status === 200;
}

/** The body of POST /containers/create used by the create+remove workload. */
export const CREATE_BODY = jsonBody({ Image: IMAGE, Cmd: ["true"], Labels: { [BENCH_LABEL]: "1" } });

/**
 * Creates a container holding /file of `bytes` random bytes (written once by
 * busybox dd, then the container stops); archives are read from and written
 * to it while it is stopped.
 */
export async function createFileContainer(socketPath: string, bytes: number): Promise<string> {
  const mib = Math.ceil(bytes / (1024 * 1024));
  const connection = await HttpConnection.open(socketPath);
  try {
    const created = await connection.request({
      method: "POST",
      path: "/containers/create",
      ...jsonBody({
        Image: IMAGE,
        Cmd: ["sh", "-c", `dd if=/dev/urandom of=/file bs=1048576 count=${mib} 2>/dev/null && mkdir -p /tmp && sync`],
        Labels: { [BENCH_LABEL]: "1" },
      }),
      timeoutMs: 30_000,
    });
    if (created.status !== 201) throw new Error(`creating the file container failed: ${created.status} ${created.body.toString()}`);
    const id = (JSON.parse(created.body.toString()) as { Id: string }).Id;
    const started = await connection.request({ method: "POST", path: `/containers/${id}/start`, timeoutMs: 30_000 });
    if (started.status !== 204) throw new Error(`starting the file container failed: ${started.status} ${started.body.toString()}`);
    const waited = await connection.request({ method: "POST", path: `/containers/${id}/wait`, timeoutMs: 180_000 });
    const exit = (JSON.parse(waited.body.toString() || "{}") as { StatusCode?: number }).StatusCode;
    if (waited.status !== 200 || exit !== 0) throw new Error(`writing /file in the container failed: exit ${exit}`);
    return id;
  } finally {
    connection.close();
  }
}

/** Removes every container carrying the benchmark's label (leftovers of an interrupted run too). */
export async function removeBenchContainers(socketPath: string): Promise<number> {
  const filters = encodeURIComponent(JSON.stringify({ label: [BENCH_LABEL] }));
  const listed = await requestOnce(socketPath, { method: "GET", path: `/containers/json?all=1&filters=${filters}`, timeoutMs: 30_000 });
  if (listed.status !== 200) return 0;
  const ids = (JSON.parse(listed.body.toString()) as Array<{ Id: string }>).map((container) => container.Id);
  const connection = await HttpConnection.open(socketPath);
  try {
    for (const id of ids) await connection.request({ method: "DELETE", path: `/containers/${id}?force=1&v=1`, timeoutMs: 60_000 });
  } finally {
    connection.close();
  }
  return ids.length;
}

/**
 * A tar archive of one regular file of `size` bytes, generated on the fly
 * from a 1 MiB block (ustar header, data, padding, end-of-archive blocks).
 */
export function tarOfOneFile(name: string, size: number): BodySource {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) => header.write(value, offset, length, "latin1");
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, "0") + "\0";
  field(0, 100, name);
  field(100, 8, octal(0o644, 8));
  field(108, 8, octal(0, 8));
  field(116, 8, octal(0, 8));
  field(124, 12, octal(size, 12));
  field(136, 12, octal(Math.floor(Date.now() / 1000), 12));
  field(148, 8, "        ");
  field(156, 1, "0");
  field(257, 6, "ustar\0");
  field(263, 2, "00");
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");

  const block = Buffer.alloc(1024 * 1024);
  let seed = 0x2545f491;
  for (let i = 0; i < block.length; i += 4) {
    // xorshift32: incompressible enough, and cheap.
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    block.writeInt32LE(seed | 0, i);
  }
  const padding = (512 - (size % 512)) % 512;
  const trailer = Buffer.alloc(padding + 1024);
  return {
    length: 512 + size + trailer.length,
    *chunks() {
      yield header;
      let remaining = size;
      while (remaining > 0) {
        const take = Math.min(remaining, block.length);
        remaining -= take;
        yield take === block.length ? block : block.subarray(0, take);
      }
      yield trailer;
    },
  };
}
