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
import { concatMap, Observable, type Subscription, tap } from "rxjs";
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
    const reader = new RequestReader(client, {
      connectionId: options.id,
      log,
      maxHeaderBytes: options.maxHeaderBytes,
      sendContinue: () => relay.respondLocally(undefined, CONTINUE_RESPONSE, { close: false }),
    });
    relay = new ResponseRelay(client, { hijacked: () => reader.hijacked(), notHijacked: () => reader.notHijacked() }, sink);
    sink.relay = relay;
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

    // Requests whose stages asked to hear when their exchange is over (see
    // ProxyRequest.onExchangeDone): told when it is reported, or, for those
    // never answered, when the connection is gone.
    const awaitingExchange = new Set<ProxyRequest>();
    const exchangeOver = (request: ProxyRequest) => {
      awaitingExchange.delete(request);
      request.onExchangeDone?.();
    };
    const requests = reader.requests$.pipe(
      pipelineOf(options.stages),
      tap((request) => {
        if (request.onExchangeDone) awaitingExchange.add(request);
      }),
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
    const subscriptions: Subscription[] = [];
    subscriptions.push(
      requests.subscribe({
        error: (error: unknown) => {
          // Stages cannot get here (their errors are refusals); this is a bug, so cut the connection.
          log.error({ err: error }, "request pipeline failed");
          client.destroy();
        },
      }),
    );
    subscriptions.push(
      relay.exchanges$.subscribe((exchange) => {
        exchangeOver(exchange.request);
        subscriber.next(exchange);
        closeIfIdle();
      }),
    );

    client.on("error", (error: NodeJS.ErrnoException) => log.debug({ err: error.code ?? error.message }, "client socket error"));
    client.on("close", () => {
      relay.abandon();
      sink.destroy();
      for (const request of [...awaitingExchange]) exchangeOver(request);
      subscriber.complete();
    });
    return () => {
      for (const subscription of subscriptions) subscription.unsubscribe();
      unregister();
      client.destroy();
      sink.destroy();
      for (const request of [...awaitingExchange]) exchangeOver(request);
    };
  });
}
