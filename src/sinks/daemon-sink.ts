/**
 * The daemon end of one client connection.
 *
 * Each client connection gets its own daemon connection, opened on its first
 * request (idle clients hold no daemon socket). Requests are written in order;
 * a request's observable completes when its head and body have been handed to
 * the daemon socket, which is when the reader may parse the next one.
 * Refused requests never touch the daemon: the relay answers them in turn.
 */
import { connect, type Socket } from "node:net";
import type { Logger } from "pino";
import { Observable } from "rxjs";
import { DaemonError } from "../errors.js";
import { headerTokens } from "../protocol/http-head.js";
import type { ProxyRequest } from "../pipeline/proxy-request.js";
import { errorResponse } from "./error-response.js";
import type { ResponseRelay } from "./response-relay.js";

export class DaemonSink {
  private upstream: Socket | undefined;
  private closed = false;

  constructor(
    private readonly socketPath: string,
    private readonly log: Logger,
  ) {}

  /** The relay is created after the sink (it needs the sink for flow control). */
  relay!: ResponseRelay;
  /** Called when a refusal closes the connection: nothing after it may be read. */
  onClosingRefusal: () => void = () => {};
  /** Called when the daemon will send nothing more on this connection: it ended or closed it, or the connection failed. */
  onUpstreamDone: () => void = () => {};

  pause(): void {
    this.upstream?.pause();
  }

  resume(): void {
    this.upstream?.resume();
  }

  /** Half-closes the daemon side: the client finished sending, and the daemon must see it as it would directly. */
  endInput(): void {
    this.upstream?.end();
  }

  destroy(): void {
    this.closed = true;
    this.upstream?.destroy();
  }

  forward(request: ProxyRequest): Observable<ProxyRequest> {
    return new Observable<ProxyRequest>((subscriber) => {
      const done = () => {
        subscriber.next(request);
        subscriber.complete();
      };
      if (request.refusal) {
        // Keep the connection only when the request was read to its end and
        // the client did not ask to close it (as the daemon would).
        const fullyRead = !request.unframeable && (request.body === null || request.bufferedBody !== undefined);
        const close = !fullyRead || clientAsksToClose(request);
        this.relay.respondLocally(request, errorResponse(request.refusal, { close }), { close, error: request.refusal });
        request.body?.destroy();
        if (close) this.onClosingRefusal();
        done();
        return;
      }
      // A body the reader ended with an error while the request was in the
      // stages (the client went mid-body, a malformed chunk): the reader
      // answers that itself, and the daemon must not see half a request.
      if (this.closed || (request.body?.errored && request.bufferedBody === undefined)) {
        done();
        return;
      }
      const upstream = this.connection();
      this.relay.expectUpstream(request);
      // Handed to the daemon socket: the next request may go, or, for one
      // that must be answered first, once it is.
      const sent = request.answerBeforeNext ? () => request.exchangeEnds.whenOver(request, done) : done;
      // Head and the body bytes that came with it leave in one write, as the
      // client sent them: dockerd drops attach body bytes that arrive with the
      // head but feeds later ones to the container's stdin.
      // (setImmediate: the body stream's first 'data' comes on a later tick.)
      // A rewritten body is in memory: head and body go out together.
      const body = request.body;
      if (request.rewrite.body) {
        upstream.cork();
      } else if (body !== null && request.bufferedBody === undefined) {
        upstream.cork();
        setImmediate(() => upstream.uncork());
      }
      upstream.write(request.outgoingHead ?? request.head.raw);
      if (request.rewrite.body) {
        if (request.rewrite.body.length > 0) upstream.write(request.rewrite.body);
        upstream.uncork();
        // The socket has its own reference until the bytes are out. The
        // request lives on until its answer is read to the end, which a
        // client that never reads it would make forever: the body must not.
        delete request.rewrite.body;
        delete request.bufferedBody;
        sent();
        return;
      }
      if (!body || request.bufferedBody !== undefined) {
        sent();
        return;
      }
      body.on("data", (chunk: Buffer) => {
        if (!upstream.write(chunk)) {
          body.pause();
          upstream.once("drain", () => body.resume());
        }
      });
      body.once("end", () => {
        if (this.relay.hijacked) upstream.end();
        sent();
      });
      body.once("error", (error) => {
        // The client went away mid-body: the daemon must not act on half a request.
        request.log.debug({ err: error.message }, "request body aborted");
        upstream.destroy();
        done();
        // destroy() reports nothing to the relay, which would wait forever
        // for the answer to this half request and hold the refusal behind it.
        this.relay.abortUpstream();
      });
      return () => {
        body.removeAllListeners("data");
      };
    });
  }

  private connection(): Socket {
    if (this.upstream) return this.upstream;
    const upstream = connect({ path: this.socketPath, allowHalfOpen: true });
    upstream.setNoDelay(true);
    this.upstream = upstream;
    upstream.on("data", (chunk: Buffer) => this.relay.onUpstreamData(chunk));
    upstream.on("end", () => {
      this.relay.onUpstreamEnd();
      this.onUpstreamDone();
    });
    upstream.on("error", (error: NodeJS.ErrnoException) => {
      const unreachable = !upstream.readyState || upstream.connecting || error.code === "ENOENT" || error.code === "ECONNREFUSED";
      const failure = unreachable
        ? new DaemonError("DCP_DAEMON_UNREACHABLE", `cannot reach the Docker daemon at ${this.socketPath}: ${error.code ?? error.message}`, { cause: error })
        : new DaemonError("DCP_DAEMON_UNREACHABLE", `lost the connection to the Docker daemon at ${this.socketPath}: ${error.code ?? error.message}`, { cause: error });
      this.log.warn({ err: failure.message }, "daemon connection failed");
      this.closed = true;
      this.relay.onUpstreamEnd(failure);
    });
    upstream.on("close", () => {
      this.closed = true;
      this.onUpstreamDone();
    });
    return upstream;
  }
}

/** `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`. */
function clientAsksToClose(request: ProxyRequest): boolean {
  const tokens = headerTokens(request.head.fields, "connection");
  if (tokens.includes("close")) return true;
  return request.head.version === "HTTP/1.0" && !tokens.includes("keep-alive");
}
