/**
 * One client connection: reader (source) → request stages → daemon sink, and
 * the daemon's answers back through the response relay.
 *
 * The returned observable emits each finished exchange (for logs and
 * metrics) and completes when both sockets are closed; unsubscribing
 * destroys them. Nothing in here throws into RxJS: failures become answers
 * to the client or a closed connection.
 */
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { concatMap, Observable, tap } from "rxjs";
import { ExchangeEnds } from "./pipeline/exchange-ends.js";
import type { ProxyRequest } from "./pipeline/proxy-request.js";
import { pipelineOf, type Stage } from "./pipeline/stage.js";
import { CONTINUE_RESPONSE } from "./sinks/error-response.js";
import { DaemonSink } from "./sinks/daemon-sink.js";
import { type Exchange, ResponseRelay } from "./sinks/response-relay.js";
import { RequestReader } from "./sources/request-reader.js";

export interface ConnectionOptions {
  readonly id: number;
  readonly dockerSocket: string;
  readonly stages: readonly Stage[];
  readonly maxHeaderBytes: number;
  readonly log: Logger;
}

/** What the server needs to drain a connection at shutdown. */
export interface ConnectionHandle {
  /** True while a request is being read or a response is owed (or a raw stream is open). */
  readonly busy: boolean;
  readonly hijacked: boolean;
  close(): void;
}

export function handleConnection(
  client: Socket,
  options: ConnectionOptions,
  register: (handle: ConnectionHandle) => () => void,
): Observable<Exchange> {
  return new Observable<Exchange>((subscriber) => {
    const log = options.log;
    const sink = new DaemonSink(options.dockerSocket, log);
    let relay: ResponseRelay;
    let inputDone = false;
    // What stages want done when an exchange is over (see exchange-ends.ts):
    // told when it is reported, or, for those never answered, when the
    // connection is gone.
    const exchangeEnds = new ExchangeEnds();
    const reader = new RequestReader(client, {
      connectionId: options.id,
      log,
      maxHeaderBytes: options.maxHeaderBytes,
      sendContinue: () => relay.respondLocally(undefined, CONTINUE_RESPONSE, { close: false }),
      exchangeEnds,
    });
    relay = new ResponseRelay(client, { hijacked: () => reader.hijacked(), notHijacked: () => reader.notHijacked() }, sink);
    sink.relay = relay;
    relay.onAnswerHead = (request) => exchangeEnds.answered(request);
    sink.onClosingRefusal = () => reader.stop();

    const closeIfIdle = () => {
      if (inputDone && !relay.busy && !client.destroyed) relay.endClient();
    };
    const unregister = register({
      get busy() {
        return relay.busy || reader.reading;
      },
      get hijacked() {
        return relay.hijacked;
      },
      close: () => client.destroy(),
    });

    const requests = reader.requests$.pipe(
      pipelineOf(options.stages),
      concatMap((request) => sink.forward(request)),
      tap({
        next: (request) => reader.release(request),
        complete: () => {
          // The client finished sending: tell the daemon, as a direct
          // connection would (it ends streams such as `events` or `logs -f`
          // whose client went away), then close once nothing is owed.
          inputDone = true;
          sink.endInput();
          closeIfIdle();
        },
      }),
    );
    const pipeline = requests.subscribe({
      error: (error: unknown) => {
        // Stages cannot get here (their errors are refusals); this is a bug, so cut the connection.
        log.error({ err: error }, "request pipeline failed");
        client.destroy();
      },
    });
    // Set while the client is gone and the proxy still reads the daemon's
    // answer to a request that something waits for (see the close handler).
    let draining: readonly ProxyRequest[] | undefined;
    const finish = () => {
      draining = undefined;
      relay.abandon();
      sink.destroy();
      exchangeEnds.connectionGone();
      subscriber.complete();
    };
    const exchanges = relay.exchanges$.subscribe((exchange) => {
      exchangeEnds.over(exchange.request);
      subscriber.next(exchange);
      if (draining) {
        if (!draining.some((request) => exchangeEnds.watches(request))) finish();
        return;
      }
      closeIfIdle();
    });
    sink.onUpstreamDone = () => {
      if (draining) {
        finish();
        return;
      }
      // The daemon is done with this connection: it ends or closes it only
      // once its handlers have returned, and reads no further request (after
      // `Connection: close`, Go half-closes and stops reading). No request
      // still in the stages, or read later, will be carried out, so what
      // they hold ends now, and they claim nothing more.
      exchangeEnds.connectionGone();
    };

    client.on("error", (error: NodeJS.ErrnoException) => log.debug({ err: error.code ?? error.message }, "client socket error"));
    client.on("close", () => {
      // Nothing more goes to the daemon: requests still in the stages are never sent.
      pipeline.unsubscribe();
      // A request the daemon was sent and may be carrying out right now (it
      // may have read it already, and then finishes it whatever happens to
      // the connection), that something waits for: a create, delete or prune
      // holding a volume claim. Cutting the daemon connection would end the
      // claim while the call can still make or remove a volume, so read on
      // until the daemon has answered it. It was sent with nothing queued
      // before it (see answerBeforeNext), so this is that one call's time.
      const stillRunning = relay.owedRequests().filter((request) => exchangeEnds.watches(request));
      if (stillRunning.length === 0) {
        finish();
        return;
      }
      draining = stillRunning;
      relay.discardFromNowOn();
      exchangeEnds.connectionGone(stillRunning);
    });
    return () => {
      pipeline.unsubscribe();
      exchanges.unsubscribe();
      unregister();
      client.destroy();
      sink.destroy();
      exchangeEnds.connectionGone();
    };
  });
}
