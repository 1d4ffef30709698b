/**
 * buffer-body: reads the whole body of a request whose JSON must be rewritten,
 * up to a limit. Only those requests are buffered; every other body streams
 * through untouched with bounded memory.
 *
 * Bodies over the limit are refused with 413 before anything is forwarded,
 * counting bytes as they arrive (a chunked body declares no length).
 */
import type { Readable } from "node:stream";
import { RewriteError } from "../../errors.js";
import { decodeChunked } from "../../protocol/chunked.js";
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";

export function bufferBodyStage(maxBodyBytes: number): Stage {
  return {
    name: "buffer-body",
    // Not async: a request that needs no buffering must not pay for a promise.
    process(request: ProxyRequest): ProxyRequest | Promise<ProxyRequest> {
      if (request.plan?.kind !== "json-body") return request;
      return bufferBody(request, maxBodyBytes);
    },
  };
}

/** Reads the request's whole body into `bufferedBody` (chunk framing removed), or refuses it with 413 over `maxBodyBytes`. */
export async function bufferBody(request: ProxyRequest, maxBodyBytes: number): Promise<ProxyRequest> {
  const framing = request.head.framing;
  if (framing.kind === "length" && framing.length > maxBodyBytes) throw tooLarge(maxBodyBytes);
  if (!request.body || framing.kind === "none") {
    request.bufferedBody = Buffer.alloc(0);
    return request;
  }
  if (request.head.expectsContinue) {
    // The client waits for this before sending the body we need to read.
    request.sendContinue();
    request.rewrite.dropHeaders = new Set([...(request.rewrite.dropHeaders ?? []), "expect"]);
  }
  // Chunk framing adds a few bytes per chunk; allow for it while reading.
  const raw = await readAll(request.body, framing.kind === "chunked" ? maxBodyBytes * 2 + 4096 : maxBodyBytes);
  const content = framing.kind === "chunked" ? decodeChunked(raw) : raw;
  if (content.length > maxBodyBytes) throw tooLarge(maxBodyBytes);
  request.bufferedBody = content;
  return request;
}

function readAll(body: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        reject(tooLarge(limit));
        return;
      }
      parts.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(parts, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      body.pause();
    };
    body.on("data", onData);
    body.once("end", onEnd);
    body.once("error", onError);
  });
}

function tooLarge(limit: number): RewriteError {
  return new RewriteError("DCP_BODY_TOO_LARGE", `request body larger than the proxy's limit of ${limit} bytes (--max-body)`, 413);
}
