/**
 * buffer-body: reads the whole body of a request whose JSON must be rewritten,
 * up to a limit. Only those requests are buffered; every other body streams
 * through untouched with bounded memory.
 *
 * Bodies over the limit are refused with 413 before anything is forwarded,
 * counting bytes as they arrive (a chunked body declares no length). Every
 * buffered body also takes its share of the proxy-wide budget
 * (body-budget.ts) until the daemon's answer to it begins.
 */
import type { Readable } from "node:stream";
import { RequestRefusedError, RewriteError } from "../../errors.js";
import { decodeChunked } from "../../protocol/chunked.js";
import type { BodyBudget, BodyLease } from "../body-budget.js";
import { connectionGone } from "../exchange-ends.js";
import type { ProxyRequest } from "../proxy-request.js";
import type { Stage } from "../stage.js";

/** A body to rewrite arrives within this (a local client sends megabytes in milliseconds), or 408. */
export const BODY_RECEIVE_LIMIT_MS = 30_000;

/** How much one body, and all bodies at once, may hold, and for how long a body may take to arrive. */
export interface BodyLimits {
  /** One body (`--max-body`): over it, 413. */
  readonly maxBodyBytes: number;
  /** All bodies being buffered or on their way to the daemon (`--max-buffered`). */
  readonly budget: BodyBudget;
  /** Default BODY_RECEIVE_LIMIT_MS. */
  readonly receiveLimitMs?: number;
}

export function bufferBodyStage(limits: BodyLimits): Stage {
  return {
    name: "buffer-body",
    // Not async: a request that needs no buffering must not pay for a promise.
    process(request: ProxyRequest): ProxyRequest | Promise<ProxyRequest> {
      if (request.plan?.kind !== "json-body") return request;
      return bufferBody(request, limits);
    },
  };
}

/**
 * Reads the request's whole body into `bufferedBody` (chunk framing
 * removed), or refuses it: 413 over `maxBodyBytes`, 503 when the budget has
 * no room for it, 408 when it does not arrive in time.
 *
 * A body is read only once every earlier exchange on its connection is
 * over. Otherwise a create pipelined behind a request that lasts hours (a
 * container `wait`) would hold its share of the budget all that time: the
 * daemon reads the next request on a connection only once it has answered
 * the one before. Clients do not pipeline, so this costs them nothing.
 */
export async function bufferBody(request: ProxyRequest, limits: BodyLimits): Promise<ProxyRequest> {
  const { maxBodyBytes, budget } = limits;
  const framing = request.head.framing;
  if (framing.kind === "length" && framing.length > maxBodyBytes) throw tooLarge(maxBodyBytes);
  if (!request.body || framing.kind === "none") {
    request.bufferedBody = Buffer.alloc(0);
    return request;
  }
  await request.exchangeEnds.earlierOver(request);
  // A known length takes its whole share before a byte is read (it may wait
  // for it); a chunked body grows its share as it arrives.
  const lease = await budget.lease(framing.kind === "length" ? framing.length : 0);
  // Given back when the daemon's answer begins (it has read the body by
  // then; the sink has let go of it once written), or the exchange is over
  // without one, or the connection is gone. A read still under way then
  // stops: what it would hold is no longer counted.
  const reading = new AbortController();
  request.exchangeEnds.whenSettled(request, () => {
    lease.release();
    reading.abort();
  });
  if (reading.signal.aborted) throw connectionGone();
  if (request.head.expectsContinue) {
    // The client waits for this before sending the body we need to read.
    request.sendContinue();
    request.rewrite.dropHeaders = new Set([...(request.rewrite.dropHeaders ?? []), "expect"]);
  }
  // Chunk framing adds a few bytes per chunk; allow for it while reading.
  const raw = await readAll(request.body, {
    limit: framing.kind === "chunked" ? maxBodyBytes * 2 + 4096 : maxBodyBytes,
    growing: framing.kind === "chunked" ? { budget, lease } : undefined,
    timeLimitMs: limits.receiveLimitMs ?? BODY_RECEIVE_LIMIT_MS,
    signal: reading.signal,
  });
  const content = framing.kind === "chunked" ? decodeChunked(raw) : raw;
  if (content.length > maxBodyBytes) throw tooLarge(maxBodyBytes);
  request.bufferedBody = content;
  return request;
}

interface ReadLimits {
  /** Bytes read, framing included: over them, 413. */
  readonly limit: number;
  /** A lease to grow by every chunk read (a chunked body); 503 when it cannot. */
  readonly growing: { budget: BodyBudget; lease: BodyLease } | undefined;
  /** The whole body arrives within this, or 408: a body held back would hold its share of the budget. */
  readonly timeLimitMs: number;
  /** Stops the read (its share was given back: the connection is gone). */
  readonly signal: AbortSignal;
}

function readAll(body: Readable, { limit, growing, timeLimitMs, signal }: ReadLimits): Promise<Buffer> {
  // Ended with an error while the stage waited (its reader answers the cause): it emits nothing more.
  if (body.errored) return Promise.reject(body.errored);
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      cleanup();
      reject(new RequestRefusedError("DCP_BODY_TIMEOUT", `the request body did not arrive within ${timeLimitMs / 1000} s (${size} bytes read)`, 408));
    }, timeLimitMs);
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        reject(tooLarge(limit));
        return;
      }
      if (growing && !growing.lease.grow(chunk.length)) {
        cleanup();
        reject(growing.budget.busy(size, "(so far, chunked) does not fit in"));
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
    const onAbort = () => {
      cleanup();
      reject(connectionGone());
    };
    const cleanup = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      body.pause();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    body.on("data", onData);
    body.once("end", onEnd);
    body.once("error", onError);
  });
}

function tooLarge(limit: number): RewriteError {
  return new RewriteError("DCP_BODY_TOO_LARGE", `request body larger than the proxy's limit of ${limit} bytes (--max-body)`, 413);
}
