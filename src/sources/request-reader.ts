/**
 * Turns one client socket into an observable of parsed requests.
 *
 * Bytes are read with strict framing (see protocol/) so that each pipelined
 * request is found exactly where the daemon will find it. Each request is
 * emitted with its body as a Node stream fed from the socket with
 * backpressure; the next head is parsed only after the sink has taken the
 * previous request (`release`), so a client that pipelines thousands of
 * requests is held back by TCP instead of by our memory.
 *
 * A request that may turn the connection into a raw stream (attach, exec
 * start, Upgrade) keeps its body stream open after its framed body ends and
 * waits for the daemon's verdict: `hijacked()` feeds every further byte into
 * that stream; `notHijacked()` ends it and goes back to parsing heads.
 */
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import type { Logger } from "pino";
import { Observable, type Subscriber } from "rxjs";
import { asProxyError, ProxyError, RequestRefusedError } from "../errors.js";
import { ChunkedScanner } from "../protocol/chunked.js";
import { findHeadEnd } from "../protocol/http-head.js";
import { parseRequestHead, type RequestHead } from "../protocol/request-head.js";
import { classifyRoute } from "../routing/routes.js";
import type { ExchangeEnds } from "../pipeline/exchange-ends.js";
import type { ProxyRequest } from "../pipeline/proxy-request.js";

export interface RequestReaderOptions {
  readonly connectionId: number;
  readonly log: Logger;
  /** Largest request head accepted; larger ones get 431. */
  readonly maxHeaderBytes: number;
  /** Writes "100 Continue" to the client in response order. */
  readonly sendContinue: () => void;
  /** The connection's registry of what to do when an exchange is over, shared by its requests. */
  readonly exchangeEnds: ExchangeEnds;
}

type Mode =
  | "head" // waiting for (or parsing) the next request head
  | "body" // feeding a framed body into the current request's stream
  | "verdict" // a possible hijack: body done, waiting for the daemon's answer
  | "raw" // hijacked: every byte goes to the current request's stream
  | "stopped"; // refused or finished: nothing more is read

const EMPTY = Buffer.alloc(0);
const CRLF = 0x0d0a;

/** The body stream of one request: pulling from it resumes the client socket. */
class BodyStream extends Readable {
  constructor(private readonly onPull: () => void) {
    super({ highWaterMark: 64 * 1024 });
    // The reader ends a body with an error (a malformed chunk, the client
    // gone mid-body) and answers that itself, as a refusal. A stage may not
    // be listening yet (it awaits something first): without a listener the
    // error would bring the whole proxy down. A consumer that comes later
    // finds it in `errored`.
    this.on("error", () => {});
  }
  override _read(): void {
    this.onPull();
  }
}

export class RequestReader {
  private pending: Buffer = EMPTY;
  private mode: Mode = "head";
  private seq = 0;
  private subscriber: Subscriber<ProxyRequest> | undefined;
  /** The request the sink has not released yet; no new head is parsed meanwhile. */
  private unreleased: ProxyRequest | undefined;
  private current: { request: ProxyRequest; body: BodyStream; mayHijack: boolean } | undefined;
  private bodyRemaining = 0;
  private chunked: ChunkedScanner | undefined;
  private bodyWantsMore = true;
  private inputEnded = false;
  /** Guards against re-entry: emitting a request can release it synchronously. */
  private pumping = false;

  readonly requests$: Observable<ProxyRequest>;

  constructor(
    private readonly socket: Socket,
    private readonly options: RequestReaderOptions,
  ) {
    this.requests$ = new Observable<ProxyRequest>((subscriber) => {
      this.subscriber = subscriber;
      const onData = (chunk: Buffer) => this.onData(chunk);
      const onEnd = () => this.onEnd();
      socket.on("data", onData);
      socket.on("end", onEnd);
      return () => {
        socket.off("data", onData);
        socket.off("end", onEnd);
        this.subscriber = undefined;
      };
    });
  }

  /** True while a request is only partly read (its head or its body). */
  get reading(): boolean {
    return this.mode === "body" || this.mode === "verdict" || (this.mode === "head" && this.pending.length > 0);
  }

  /** Called by the sink once it has taken the request: the next head may be parsed. */
  release(request: ProxyRequest): void {
    if (this.unreleased !== request) return;
    this.unreleased = undefined;
    this.pump();
  }

  /** The daemon switched the connection to a raw stream for the current request. */
  hijacked(): void {
    if (!this.current || (this.mode !== "verdict" && this.mode !== "body")) return;
    this.mode = "raw";
    this.chunked = undefined;
    if (this.inputEnded) this.endBody();
    this.pump();
  }

  /** The daemon answered the possible hijack with an ordinary response. */
  notHijacked(): void {
    if (this.mode !== "verdict") {
      // Still inside the framed body: finish it first, then go on normally.
      if (this.current) this.current.mayHijack = false;
      return;
    }
    this.endBody();
    this.mode = "head";
    this.pump();
  }

  /**
   * Stops reading requests: after a refusal the rest of the connection's
   * input is not trusted. The input is still drained and dropped, as Go's
   * server does after an error answer, so that the client's end of input is
   * seen: a paused socket stays open for good once the client has gone.
   */
  stop(): void {
    this.mode = "stopped";
    this.pending = EMPTY;
    this.socket.resume();
  }

  private onData(chunk: Buffer): void {
    if (this.mode === "stopped") return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.pump();
  }

  private onEnd(): void {
    this.inputEnded = true;
    switch (this.mode) {
      case "raw":
        this.endBody();
        break;
      case "body":
        // The client went away in the middle of a body: abort what was forwarded.
        this.current?.body.destroy(new RequestRefusedError("DCP_BAD_REQUEST", "client closed the connection mid-body"));
        this.current = undefined;
        this.finish();
        break;
      case "head":
        if (!this.unreleased) this.finish();
        break;
      default:
        break;
    }
  }

  /** Processes buffered bytes as far as the current mode allows, then sets the socket's flow. */
  private pump(): void {
    // A nested call (a release during emit) is covered by the running loop,
    // which re-reads the state on each turn.
    if (this.pumping) return;
    this.pumping = true;
    try {
      this.processPending();
    } catch (error) {
      this.refuse(asProxyError(error));
    } finally {
      this.pumping = false;
    }
    this.updateFlow();
  }

  private processPending(): void {
    for (;;) {
      switch (this.mode) {
        case "head":
          if (this.unreleased) return;
          if (this.pending.length === 0) {
            if (this.inputEnded) this.finish();
            return;
          }
          if (!this.readHead()) {
            // A partial head when the client has stopped sending: nothing more will come.
            if (this.inputEnded) this.finish();
            return;
          }
          break;
        case "body":
          if (this.pending.length === 0) return;
          this.readBody();
          break;
        case "raw":
          if (this.pending.length > 0) {
            const bytes = this.pending;
            this.pending = EMPTY;
            this.pushBody(bytes);
          }
          return;
        case "verdict":
        case "stopped":
          return;
      }
    }
  }

  /** Parses one head if it is complete; returns false when more bytes are needed. */
  private readHead(): boolean {
    // Tolerate blank lines between requests (RFC 9112 §2.2); they are not forwarded.
    while (this.pending.length >= 2 && this.pending.readUInt16BE(0) === CRLF) this.pending = this.pending.subarray(2);
    if (this.pending.length === 0) return true;
    const end = findHeadEnd(this.pending);
    if (end === -1) {
      if (this.pending.length > this.options.maxHeaderBytes) throw headersTooLarge(this.options.maxHeaderBytes);
      return false;
    }
    if (end > this.options.maxHeaderBytes) throw headersTooLarge(this.options.maxHeaderBytes);
    const raw = this.pending.subarray(0, end);
    this.pending = this.pending.subarray(end);
    const head = parseRequestHead(raw);
    this.emit(head);
    return true;
  }

  private emit(head: RequestHead): void {
    const route = classifyRoute(head.method, head.target, head.wantsUpgrade);
    const hasBody = head.framing.kind !== "none" || route.mayHijack;
    const seq = ++this.seq;
    let body: BodyStream | null = null;
    if (hasBody) body = new BodyStream(() => this.onBodyPull());
    const request: ProxyRequest = {
      seq,
      connectionId: this.options.connectionId,
      head,
      body,
      route,
      receivedAt: performance.now(),
      log: this.options.log,
      rewrite: {},
      injection: {},
      sendContinue: this.options.sendContinue,
      exchangeEnds: this.options.exchangeEnds,
    };
    if (body) {
      this.current = { request, body, mayHijack: route.mayHijack };
      this.bodyWantsMore = true;
      if (head.framing.kind === "length") {
        this.mode = "body";
        this.bodyRemaining = head.framing.length;
      } else if (head.framing.kind === "chunked") {
        this.mode = "body";
        this.chunked = new ChunkedScanner();
      } else {
        this.mode = "verdict";
      }
    }
    this.unreleased = request;
    this.subscriber?.next(request);
  }

  private readBody(): void {
    const current = this.current!;
    let take: number;
    let finished: boolean;
    if (this.chunked) {
      take = this.chunked.scan(this.pending);
      finished = this.chunked.done;
    } else {
      take = Math.min(this.bodyRemaining, this.pending.length);
      this.bodyRemaining -= take;
      finished = this.bodyRemaining === 0;
    }
    const bytes = take === this.pending.length ? this.pending : this.pending.subarray(0, take);
    this.pending = take === this.pending.length ? EMPTY : this.pending.subarray(take);
    if (bytes.length > 0) this.pushBody(bytes);
    if (!finished) return;
    this.chunked = undefined;
    if (current.mayHijack) {
      this.mode = "verdict";
    } else {
      this.endBody();
      this.mode = "head";
    }
  }

  private pushBody(bytes: Buffer): void {
    if (!this.current) return;
    this.bodyWantsMore = this.current.body.push(bytes);
  }

  private endBody(): void {
    this.current?.body.push(null);
    this.current = undefined;
  }

  private onBodyPull(): void {
    this.bodyWantsMore = true;
    this.updateFlow();
  }

  /** The socket flows only while its bytes have somewhere to go. */
  private updateFlow(): void {
    let flowing: boolean;
    switch (this.mode) {
      case "head":
        flowing = !this.unreleased;
        break;
      case "body":
      case "raw":
        flowing = this.bodyWantsMore;
        break;
      case "stopped":
        flowing = true; // drained and dropped (see stop())
        break;
      default:
        flowing = false;
    }
    if (flowing && this.inputEnded) return;
    if (flowing) this.socket.resume();
    else this.socket.pause();
  }

  /** A request that cannot be read with certainty: answer it and read nothing more. */
  private refuse(error: ProxyError): void {
    this.options.log.warn({ code: error.code, err: error.message }, "refusing malformed request");
    const placeholder: RequestHead = {
      method: "-",
      target: "-",
      version: "HTTP/1.1",
      fields: [],
      raw: EMPTY,
      framing: { kind: "none" },
      wantsUpgrade: false,
      expectsContinue: false,
    };
    if (this.current) {
      this.current.body.destroy(error);
      this.current = undefined;
    }
    this.stop();
    const request: ProxyRequest = {
      seq: ++this.seq,
      connectionId: this.options.connectionId,
      head: placeholder,
      body: null,
      receivedAt: performance.now(),
      log: this.options.log,
      rewrite: {},
      injection: {},
      refusal: error,
      unframeable: true,
      sendContinue: this.options.sendContinue,
      exchangeEnds: this.options.exchangeEnds,
    };
    this.subscriber?.next(request);
    this.finish();
  }

  private finish(): void {
    if (this.mode !== "stopped") this.mode = "stopped";
    this.subscriber?.complete();
  }
}

function headersTooLarge(limit: number): ProxyError {
  return new RequestRefusedError("DCP_HEADERS_TOO_LARGE", `request headers larger than ${limit} bytes`, 431);
}
