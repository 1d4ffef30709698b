// The two ways a Docker API connection turns into a raw byte stream, driven
// byte by byte over node:net through the proxy:
//   - attach with `Connection: Upgrade` / `Upgrade: tcp` → 101 UPGRADED
//     (docker CLI, docker-py, dockerode with hijack);
//   - exec start without any Upgrade header → 200 with
//     `application/vnd.docker.raw-stream` (docker-modem, testcontainers).
// Both carry stdin, a half-close, and output that may come after it.
import { describe, expect, it } from "vitest";
import { useDindAndProxy } from "./support/dind-with-proxy.js";
import { BUSYBOX_IMAGE, type Dind, dockerApi } from "./support/dind.js";
import type { ProxyProcess } from "./support/proxy-process.js";
import { parseHead, RawConnection } from "./support/raw-http.js";
import { logMark, waitForRequest } from "./support/clients/proxy-log.js";

let dind: Dind;
let proxy: ProxyProcess;

useDindAndProxy((started) => ({ dind, proxy } = started));

/** Setup and inspection talk to the daemon directly; only the hijack goes through the proxy. */
async function inner<T>(method: string, path: string, body?: object, expected = [200, 201, 204]): Promise<T> {
  const res = await dockerApi(dind.socketPath, method, path, body);
  if (!expected.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${res.body}`);
  return (res.body === "" ? undefined : JSON.parse(res.body)) as T;
}

async function createContainer(config: object): Promise<string> {
  return (await inner<{ Id: string }>("POST", "/containers/create", { Image: BUSYBOX_IMAGE, ...config })).Id;
}

async function runningContainer(): Promise<string> {
  const id = await createContainer({ Cmd: ["sleep", "300"] });
  await inner("POST", `/containers/${id}/start`);
  return id;
}

/** Reads the response head at the start of the connection and drops it from the buffer. */
async function readHead(connection: RawConnection): Promise<NonNullable<ReturnType<typeof parseHead>>> {
  await connection.waitFor((received) => parseHead(received) !== undefined);
  const head = parseHead(connection.received)!;
  connection.consume(head.headLength);
  return head;
}

/** Text of a multiplexed (non-TTY) stream: 8-byte frame headers, [stream, 0, 0, 0, size (big-endian)]. */
function demux(stream: Buffer): { stdout: string; stderr: string } {
  const out = { stdout: "", stderr: "" };
  let offset = 0;
  while (offset + 8 <= stream.length) {
    const kind = stream[offset];
    const size = stream.readUInt32BE(offset + 4);
    const payload = stream.toString("utf8", offset + 8, offset + 8 + size);
    if (kind === 2) out.stderr += payload;
    else out.stdout += payload;
    offset += 8 + size;
  }
  expect(offset, "the stream ends inside a frame").toBe(stream.length);
  return out;
}

const attachRequest = (id: string) =>
  `POST /containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n` +
  "Host: docker\r\nContent-Type: text/plain\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";

function execStartRequest(execId: string, tty: boolean): string {
  const body = JSON.stringify({ Detach: false, Tty: tty });
  return (
    `POST /exec/${execId}/start HTTP/1.1\r\n` +
    `Host: docker\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

describe("attach with Upgrade: tcp (101)", () => {
  it("relays stdin sent with the request head and after it, then the half-close, with a TTY", async () => {
    const id = await createContainer({ Cmd: ["cat"], OpenStdin: true, StdinOnce: true, Tty: true });
    const mark = logMark(proxy);
    const connection = await RawConnection.open(proxy.socketPath);
    // Head and the first stdin bytes in ONE write: the proxy must keep those bytes and pass
    // them on once the daemon has switched protocols. (dockerd itself drops bytes that reach
    // it in the same read as the head, so the proxy must not simply forward the one write.)
    connection.write(attachRequest(id) + "first\n");
    const head = await readHead(connection);
    expect(head.status).toBe(101);
    expect(head.headers["upgrade"]).toBe("tcp");
    await inner("POST", `/containers/${id}/start`);
    // The terminal echoes the line, then cat prints it.
    await connection.waitFor((received) => received.toString("latin1").includes("first\r\n"));
    connection.write("second\n");
    await connection.waitFor((received) => received.toString("latin1").includes("second\r\n"));
    // Half-close: with StdinOnce the daemon ends the attach, and it closes the connection.
    connection.socket.end();
    await connection.waitForEnd();
    const output = connection.received.toString("latin1");
    expect(output.split("first\r\n").length - 1).toBeGreaterThanOrEqual(1);
    expect(output.split("second\r\n").length - 1).toBeGreaterThanOrEqual(1);
    expect(output.indexOf("first")).toBeLessThan(output.indexOf("second"));
    connection.close();
    await waitForRequest(proxy, mark, { method: "POST", route: `/containers/${id}/attach`, status: 101, hijacked: true });
    await inner("DELETE", `/containers/${id}?force=1`);
  });

  it("delivers output written after the client's half-close, without a TTY", async () => {
    // sort prints nothing until its stdin ends: the output depends on the half-close getting
    // through, and comes after it, so a proxy that closes fully would lose it.
    const id = await createContainer({ Cmd: ["sort"], OpenStdin: true, StdinOnce: true, AttachStdin: true });
    const mark = logMark(proxy);
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write(attachRequest(id) + "b\na\n");
    expect((await readHead(connection)).status).toBe(101);
    await inner("POST", `/containers/${id}/start`);
    connection.write("c\n");
    connection.socket.end();
    await connection.waitForEnd();
    expect(demux(connection.received)).toEqual({ stdout: "a\nb\nc\n", stderr: "" });
    connection.close();
    expect(await inner<{ StatusCode: number }>("POST", `/containers/${id}/wait`)).toMatchObject({ StatusCode: 0 });
    await waitForRequest(proxy, mark, { method: "POST", route: `/containers/${id}/attach`, status: 101, hijacked: true });
    await inner("DELETE", `/containers/${id}`);
  });

  it("never turns an attach request's body into stdin (docker-modem sends its options as one)", async () => {
    // dockerode's attach, byte for byte: head and a JSON body in one write. dockerd does not
    // read attach bodies: bytes it has buffered with the head are dropped at the hijack, but
    // bytes that arrive after it are stdin. Sent directly, the body arrives with the head
    // (no leak in 20 tries); a proxy that writes head and body separately leaks it at random,
    // hence several rounds.
    const body = JSON.stringify({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const outputs: string[] = [];
    const mark = logMark(proxy);
    for (let round = 0; round < 8; round++) {
      const id = await createContainer({ Cmd: ["cat"], OpenStdin: true, StdinOnce: true });
      const connection = await RawConnection.open(proxy.socketPath);
      connection.write(
        `POST /containers/${id}/attach?stream=true&stdin=true&stdout=true&stderr=true&hijack=true HTTP/1.1\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nHost: localhost\r\n\r\n${body}`,
      );
      expect((await readHead(connection)).status).toBe(101);
      await inner("POST", `/containers/${id}/start`);
      connection.write("ping\n");
      connection.socket.end();
      await connection.waitForEnd();
      outputs.push(demux(connection.received).stdout);
      connection.close();
      await waitForRequest(proxy, mark, { method: "POST", route: `/containers/${id}/attach`, status: 101, hijacked: true });
      await inner("DELETE", `/containers/${id}?force=1`);
    }
    expect(outputs).toEqual(Array(outputs.length).fill("ping\n"));
  });
});

describe("exec start without Upgrade headers (200 raw stream)", () => {
  it("streams stdin and echo both ways with a TTY, and ends after the half-close", async () => {
    const containerId = await runningContainer();
    const { Id: execId } = await inner<{ Id: string }>("POST", `/containers/${containerId}/exec`, {
      AttachStdin: true,
      AttachStdout: true,
      Tty: true,
      Cmd: ["cat"],
    });
    const mark = logMark(proxy);
    const connection = await RawConnection.open(proxy.socketPath);
    connection.write(execStartRequest(execId, true));
    const head = await readHead(connection);
    expect(head.status).toBe(200);
    expect(head.headers["content-type"]).toBe("application/vnd.docker.raw-stream");
    // No framing: the body is the raw stream until the connection closes.
    expect(head.headers).not.toHaveProperty("content-length");
    expect(head.headers).not.toHaveProperty("transfer-encoding");
    connection.write("hello\n");
    await connection.waitFor((received) => received.toString("latin1").includes("hello\r\n"));
    connection.write("world\n");
    await connection.waitFor((received) => received.toString("latin1").includes("world\r\n"));
    connection.socket.end();
    await connection.waitForEnd();
    const output = connection.received.toString("latin1");
    expect(output.indexOf("hello\r\n")).toBeLessThan(output.indexOf("world\r\n"));
    connection.close();
    await waitForRequest(proxy, mark, { method: "POST", route: `/exec/${execId}/start`, status: 200, hijacked: true });
    await inner("DELETE", `/containers/${containerId}?force=1`);
  });

  it("keeps stdin sent with the request, and delivers output after the half-close, without a TTY", async () => {
    const containerId = await runningContainer();
    const { Id: execId } = await inner<{ Id: string }>("POST", `/containers/${containerId}/exec`, {
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Cmd: ["sh", "-c", "sort; echo done >&2"],
    });
    const mark = logMark(proxy);
    const connection = await RawConnection.open(proxy.socketPath);
    // Request, body and the first stdin bytes in one write, as docker-modem may send them.
    connection.write(execStartRequest(execId, false) + "b\na\n");
    expect((await readHead(connection)).status).toBe(200);
    connection.write("c\n");
    connection.socket.end();
    await connection.waitForEnd();
    expect(demux(connection.received)).toEqual({ stdout: "a\nb\nc\n", stderr: "done\n" });
    connection.close();
    expect(await inner<{ Running: boolean; ExitCode: number }>("GET", `/exec/${execId}/json`)).toMatchObject({ Running: false, ExitCode: 0 });
    await waitForRequest(proxy, mark, { method: "POST", route: `/exec/${execId}/start`, status: 200, hijacked: true });
    await inner("DELETE", `/containers/${containerId}?force=1`);
  });
});
