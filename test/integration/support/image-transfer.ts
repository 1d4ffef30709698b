// Copies an image between two daemons like `docker save | docker load`, but as
// one streamed HTTP pipe: GET /images/{name}/get on the source straight into
// POST /images/load on the target, so nothing is buffered in memory or on disk.
import { request } from "node:http";
import type { IncomingMessage } from "node:http";
import { pipeline } from "node:stream/promises";
import { readBody } from "./docker-api.js";

function openExport(socketPath: string, image: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: "GET", path: `/images/${image}/get`, agent: false }, resolve);
    req.on("error", reject);
    req.end();
  });
}

export async function copyImage(fromSocket: string, toSocket: string, image: string): Promise<void> {
  const tar = await openExport(fromSocket, image);
  if (tar.statusCode !== 200) {
    throw new Error(`GET /images/${image}/get on ${fromSocket}: ${tar.statusCode} ${await readBody(tar)}`);
  }
  const load = request({
    socketPath: toSocket,
    method: "POST",
    path: "/images/load?quiet=1",
    // No Content-Length: node sends the tar chunked as it arrives.
    headers: { "Content-Type": "application/x-tar" },
    agent: false,
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    load.on("response", (res: IncomingMessage) => {
      readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject);
    });
    load.on("error", reject);
  });
  // If the target fails mid-upload, pipeline rejects and destroys the source.
  await Promise.all([pipeline(tar, load), answer]);
  const { status, body } = await answer;
  // /images/load reports failures in-band on a 200 progress stream.
  if (status !== 200 || body.includes('"errorDetail"')) {
    throw new Error(`POST /images/load on ${toSocket}: ${status} ${body}`);
  }
}
