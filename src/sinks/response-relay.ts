/**
 * Relays the daemon's responses to the client, byte for byte, while keeping
 * track of where each one ends.
 *
 * One daemon connection serves one client connection, so responses already
 * arrive in request order; the relay only needs their boundaries, to
 *  - slot the proxy's own answers (refusals, 502s, 100 Continue) between them
 *    in the order the client expects them,
 *  - notice the moment a connection becomes a raw stream (101, or an
 *    unframed 200 with a Docker stream content type on attach/exec), and
 *  - report each finished exchange (status, bytes, duration) for logging.
 * Bytes are written as they arrive, so streams (`logs -f`, `events`, the
 * headers of `wait`) are flushed at once; the daemon socket is paused while
 * the client cannot keep up.
 */
import type { Socket } from "node:net";
import { Subject } from "rxjs";
import { asProxyError, DaemonError, type ProxyError } from "../errors.js";
import { ChunkedScanner } from "../protocol/chunked.js";
import { findHeadEnd } from "../protocol/http-head.js";
import { parseResponseHead, type ResponseHead, responseFraming } from "../protocol/response-head.js";
import type { ProxyRequest } from "../pipeline/proxy-request.js";
import { errorResponse } from "./error-response.js";

export interface Exchange {
  readonly request: ProxyRequest;
  readonly status: number;
  readonly bytesOut: number;
  readonly hijacked: boolean;
  readonly durationMs: number;
  /** Set when the proxy answered itself. */
  readonly error?: ProxyError;
}

export interface HijackListener {
  hijacked(request: ProxyRequest): void;
  notHijacked(request: ProxyRequest): void;
}

type Pending =
  | { readonly kind: "upstream"; readonly request: ProxyRequest }
  | { readonly kind: "local"; readonly request: ProxyRequest | undefined; readonly bytes: Buffer; readonly close: boolean; readonly error: ProxyError | undefined };

type State =
  | { kind: "head"; buffered: Buffer }
  | { kind: "length"; remaining: number }
  | { kind: "chunked"; scanner: ChunkedScanner }
  | { kind: "until-close" }
  | { kind: "raw" }
  | { kind: "closed" };

const RAW_STREAM_TYPES = ["application/vnd.docker.raw-stream", "application/vnd.docker.multiplexed-stream"];
const EMPTY = Buffer.alloc(0);

export class ResponseRelay {
  readonly exchanges$ = new Subject<Exchange>();
  private readonly queue: Pending[] = [];
  private state: State = { kind: "head", buffered: EMPTY };
  private status = 0;
  private bytesOut = 0;
  private upstreamPaused = false;
  /** Set by discardFromNowOn(). */
  private clientGone = false;
  /** While one daemon read is being relayed: the pieces to write, in order. */
  private gathered: Buffer[] | undefined;
  /** The client connection must end once the gathered pieces are written. */
  private endAfterGathered = false;
  /**
   * Exchanges finished by the daemon read being relayed: reported after its
   * bytes are written, so that logging and metrics are not on the way between
   * the daemon's answer and the client.
   */
  private finishedInRead: Exchange[] = [];

  constructor(
    private readonly client: Socket,
    private readonly hijackListener: HijackListener,
    /** Pauses and resumes the daemon socket for backpressure. */
    private readonly upstreamFlow: { pause(): void; resume(): void },
  ) {
    client.on("drain", () => this.resumeUpstream());
  }

  /** True while responses are owed to the client. */
  get busy(): boolean {
    return this.queue.length > 0 || this.state.kind === "raw";
  }

  get hijacked(): boolean {
    return this.state.kind === "raw";
  }

  /** Called when the daemon's final answer head to a request has arrived. */
  onAnswerHead: (request: ProxyRequest) => void = () => {};

  expectUpstream(request: ProxyRequest): void {
    this.queue.push({ kind: "upstream", request });
    // A request sent alone (answerBeforeNext) holds something until its answer
    // begins: read on, even if the client is slow to read, at least up to
    // that answer's head (nothing is written while a head is incomplete, so
    // the client's pace applies again only after it). Every earlier answer
    // is read already, and nothing is sent after it, so what comes is its
    // own answer only.
    if (request.answerBeforeNext) this.resumeUpstream();
  }

  /** The requests sent to the daemon and not answered yet, oldest first. */
  owedRequests(): ProxyRequest[] {
    const owed: ProxyRequest[] = [];
    for (const pending of this.queue) if (pending.kind === "upstream") owed.push(pending.request);
    return owed;
  }

  /**
   * The client connection closed, but the daemon may still be carrying out
   * a request it was sent, which the proxy must see to its end (see
   * connection.ts): go on reading the daemon's answers and reporting each
   * exchange, and write nothing.
   */
  discardFromNowOn(): void {
    this.clientGone = true;
    // No drain will come from a closed client.
    this.resumeUpstream();
  }

  private resumeUpstream(): void {
    if (!this.upstreamPaused) return;
    this.upstreamPaused = false;
    this.upstreamFlow.resume();
  }

  /**
   * The client connection closed: report the exchange that was cut short (a
   * stream the client stopped reading, a raw session) so that it is logged.
   */
  abandon(): void {
    if (this.state.kind === "closed") return;
    const current = this.queue[0];
    const started = this.state.kind !== "head" || this.state.buffered.length > 0 || this.status !== 0;
    if (current?.kind === "upstream" && started) this.completeCurrent(this.state.kind === "raw");
    this.state = { kind: "closed" };
  }

  /**
   * The proxy cut the daemon connection itself, in the middle of a request
   * body (a malformed chunk, a client gone mid-upload): no answer will come
   * for that request. Sends what the proxy queued itself (the refusal) and
   * closes; a response already under way cannot be mended, so the client
   * connection is cut.
   */
  abortUpstream(): void {
    if (this.state.kind === "closed") return;
    const started = this.state.kind !== "head" || this.state.buffered.length > 0;
    if (started) {
      this.state = { kind: "closed" };
      this.client.destroy();
      return;
    }
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i]!.kind === "upstream") this.queue.splice(i, 1);
    }
    if (this.queue.length > 0) {
      this.flushLocal();
      return;
    }
    this.state = { kind: "closed" };
    this.endClient();
  }

  /** Queues an answer of the proxy's own, sent once every earlier response is complete. */
  respondLocally(request: ProxyRequest | undefined, bytes: Buffer, options: { close: boolean; error?: ProxyError }): void {
    this.queue.push({ kind: "local", request, bytes, close: options.close, error: options.error });
    this.flushLocal();
  }

  onUpstreamData(chunk: Buffer): void {
    // What one read brought leaves in one write: a head and its body that
    // arrived together wake the client once, not twice.
    this.gathered = [];
    try {
      this.consume(chunk);
    } catch (error) {
      // The daemon broke HTTP framing: nothing sensible can follow on this connection.
      this.failUpstream(asProxyError(error));
    } finally {
      const gathered = this.gathered;
      this.gathered = undefined;
      this.writeGathered(gathered, chunk);
      if (this.endAfterGathered) {
        this.endAfterGathered = false;
        this.client.end();
      }
      this.reportFinished();
    }
  }

  private report(exchange: Exchange): void {
    if (this.gathered) this.finishedInRead.push(exchange);
    else this.exchanges$.next(exchange);
  }

  private reportFinished(): void {
    if (this.finishedInRead.length === 0) return;
    const finished = this.finishedInRead;
    this.finishedInRead = [];
    for (const exchange of finished) this.exchanges$.next(exchange);
  }

  /**
   * Ends the client connection after every byte queued for it. While a daemon
   * read is being relayed its bytes are only gathered: ending at once would
   * drop them (write after end), e.g. the last response before a refusal or
   * the answer to a client that half-closed after its request.
   */
  endClient(): void {
    if (this.gathered) this.endAfterGathered = true;
    else this.client.end();
  }

  /** Writes the pieces of one read; usually they are the read itself, in order, and go out as it. */
  private writeGathered(pieces: Buffer[], chunk: Buffer): void {
    if (pieces.length === 0) return;
    if (pieces.length === 1) return this.send(pieces[0]!);
    let total = 0;
    for (const piece of pieces) total += piece.length;
    const whole =
      total === chunk.length && pieces[0]!.buffer === chunk.buffer && pieces[0]!.byteOffset === chunk.byteOffset && isContiguous(pieces);
    this.send(whole ? chunk : Buffer.concat(pieces, total));
  }

  /** The daemon closed its side (or the connection failed): finish or fail what is owed. */
  onUpstreamEnd(error?: Error): void {
    const state = this.state;
    if (state.kind === "raw") {
      if (error) this.client.destroy();
      else this.client.end();
      this.state = { kind: "closed" };
      this.completeCurrent(true);
      return;
    }
    if (state.kind === "until-close") {
      this.completeCurrent(false);
      this.state = { kind: "head", buffered: EMPTY };
    }
    const failure =
      error instanceof DaemonError
        ? error
        : new DaemonError("DCP_DAEMON_UNREACHABLE", "the Docker daemon closed the connection", { cause: error });
    this.failUpstream(failure);
  }

  private consume(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      const state = this.state;
      switch (state.kind) {
        case "closed":
          return;
        case "raw":
        case "until-close":
          this.write(offset === 0 ? chunk : chunk.subarray(offset));
          return;
        case "length": {
          const take = Math.min(state.remaining, chunk.length - offset);
          this.write(take === chunk.length ? chunk : chunk.subarray(offset, offset + take));
          offset += take;
          state.remaining -= take;
          if (state.remaining === 0) this.responseDone();
          break;
        }
        case "chunked": {
          const take = state.scanner.scan(chunk, offset);
          this.write(take === chunk.length ? chunk : chunk.subarray(offset, offset + take));
          offset += take;
          if (state.scanner.done) this.responseDone();
          break;
        }
        case "head": {
          const rest = offset === 0 ? chunk : chunk.subarray(offset);
          const buffered = state.buffered.length === 0 ? rest : Buffer.concat([state.buffered, rest]);
          const end = findHeadEnd(buffered);
          if (end === -1) {
            state.buffered = buffered;
            return;
          }
          const consumedFromChunk = end - state.buffered.length;
          offset += consumedFromChunk;
          state.buffered = EMPTY;
          this.startResponse(buffered.subarray(0, end));
          break;
        }
      }
    }
  }

  private startResponse(rawHead: Buffer): void {
    const head = parseResponseHead(rawHead);
    const current = this.queue[0];
    this.write(rawHead);
    if (!current || current.kind !== "upstream") {
      // Nothing was asked (the daemon speaking first): relay it and read to close.
      this.state = { kind: "until-close" };
      return;
    }
    const request = current.request;
    if (head.status === 101 || hijacksWithoutUpgrade(request, head)) {
      this.status = head.status;
      this.state = { kind: "raw" };
      this.hijackListener.hijacked(request);
      return;
    }
    if (head.status >= 100 && head.status < 200) return; // interim (100 Continue): the final head follows
    this.onAnswerHead(request);
    if (request.route?.mayHijack) this.hijackListener.notHijacked(request);
    this.status = head.status;
    // Go treats only the exact method "HEAD" as HEAD: a "head" request gets
    // a 404 with a body, which must be read as that response's.
    const framing = responseFraming(head, request.head.method);
    switch (framing.kind) {
      case "none":
        this.responseDone();
        return;
      case "length":
        this.state = { kind: "length", remaining: framing.length };
        return;
      case "chunked":
        this.state = { kind: "chunked", scanner: new ChunkedScanner() };
        return;
      case "until-close":
        this.state = { kind: "until-close" };
        return;
    }
  }

  private responseDone(): void {
    this.completeCurrent(false);
    this.state = { kind: "head", buffered: EMPTY };
    this.flushLocal();
  }

  private completeCurrent(hijacked: boolean): void {
    const current = this.queue.shift();
    if (current?.kind === "upstream") {
      this.report({
        request: current.request,
        status: this.status,
        bytesOut: this.bytesOut,
        hijacked,
        durationMs: performance.now() - current.request.receivedAt,
      });
    }
    this.status = 0;
    this.bytesOut = 0;
  }

  /** Sends the proxy's own answers that are now at the front of the queue. */
  private flushLocal(): void {
    while (this.state.kind === "head" && this.state.buffered.length === 0) {
      const next = this.queue[0];
      if (!next || next.kind !== "local") return;
      this.queue.shift();
      this.write(next.bytes);
      if (next.request && next.error) {
        this.report({
          request: next.request,
          status: next.error.status,
          bytesOut: next.bytes.length,
          hijacked: false,
          durationMs: performance.now() - next.request.receivedAt,
          error: next.error,
        });
      }
      if (next.close) {
        this.state = { kind: "closed" };
        this.endClient();
        return;
      }
    }
  }

  /**
   * The daemon connection is unusable. A response that has not started yet is
   * answered with a 502; one that has started cannot be mended, so the client
   * connection is cut, as a direct connection would be.
   */
  private failUpstream(error: ProxyError): void {
    if (this.state.kind === "closed") return;
    const started = this.state.kind !== "head" || this.state.buffered.length > 0;
    const current = this.queue[0];
    if (started) {
      this.state = { kind: "closed" };
      this.client.destroy();
      return;
    }
    if (!current) {
      // Nothing owed: the daemon closed an idle connection, so close ours too
      // (after what this read gathered, if it failed mid-way).
      this.state = { kind: "closed" };
      this.endClient();
      return;
    }
    if (current.kind === "upstream") {
      this.queue.splice(0, this.queue.length);
      this.respondLocally(current.request, errorResponse(error, { close: true }), { close: true, error });
    }
  }

  private write(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.bytesOut += bytes.length;
    if (this.gathered) this.gathered.push(bytes);
    else this.send(bytes);
  }

  private send(bytes: Buffer): void {
    if (this.clientGone) return;
    if (!this.client.write(bytes) && !this.upstreamPaused) {
      this.upstreamPaused = true;
      this.upstreamFlow.pause();
    }
  }
}

/** Each piece starts where the previous one ended, in the same memory. */
function isContiguous(pieces: readonly Buffer[]): boolean {
  for (let i = 1; i < pieces.length; i++) {
    const previous = pieces[i - 1]!;
    const piece = pieces[i]!;
    if (piece.buffer !== previous.buffer || piece.byteOffset !== previous.byteOffset + previous.length) return false;
  }
  return true;
}

function isRawStream(contentType: string): boolean {
  return RAW_STREAM_TYPES.some((type) => contentType.startsWith(type));
}

/**
 * The daemon's hijack without an Upgrade header: attach and exec start
 * answer 200 with a Docker stream type and no framing, then relay raw bytes.
 * Only those two routes, and only an unframed 200, count. From Docker 23 on,
 * `GET …/logs` also answers 200 with a raw-stream type, chunked, and the
 * daemon goes on reading HTTP: taking that for a hijack would forward every
 * later request on the connection unread.
 */
function hijacksWithoutUpgrade(request: ProxyRequest, head: ResponseHead): boolean {
  const kind = request.route?.kind;
  if (kind !== "attach" && kind !== "exec-start") return false;
  return head.status === 200 && isRawStream(head.contentType) && !head.chunked && head.contentLength === undefined;
}
