/**
 * A stage is one small step of the request pipeline, and the extension point
 * for users: a stage looks at (and may change) a request, or refuses it by
 * throwing a ProxyError. Stages run in order, one request at a time per
 * connection (HTTP/1.1 answers in order), each connection independently.
 *
 * A stage never sees a request that an earlier stage refused, and an error it
 * throws only refuses that one request: it cannot break the connection or
 * the process (an RxJS error left unhandled would be rethrown and kill it).
 */
import { catchError, concatMap, defer, from, map, type MonoTypeOperatorFunction, type Observable, of } from "rxjs";
import { asProxyError, DaemonRefusalError, ProxyBusyError } from "../errors.js";
import type { ProxyRequest } from "./proxy-request.js";

export interface Stage {
  /** Short name for logs, e.g. "inject-labels". */
  readonly name: string;
  /** Returns the request (changed or not), or throws a ProxyError to refuse it. */
  process(request: ProxyRequest): ProxyRequest | Promise<ProxyRequest>;
}

/** The stage as an RxJS operator: synchronous stages stay synchronous (no scheduling per request). */
export function stageOperator(stage: Stage): MonoTypeOperatorFunction<ProxyRequest> {
  return concatMap((request: ProxyRequest): Observable<ProxyRequest> => {
    if (request.refusal) return of(request);
    let result: ProxyRequest | Promise<ProxyRequest>;
    try {
      result = stage.process(request);
    } catch (error) {
      return of(refused(request, error, stage));
    }
    if (!(result instanceof Promise)) return of(result);
    return defer(() => result).pipe(
      map((value) => value),
      catchError((error: unknown) => of(refused(request, error, stage))),
    );
  });
}

function refused(request: ProxyRequest, error: unknown, stage: Stage): ProxyRequest {
  const refusal = asProxyError(error);
  // A 5xx is the proxy's own failure, unless it is the daemon's answer passed on
  // (a 503 from a daemon that is not a swarm manager) or the proxy being busy
  // (no room for a body now): those the access log shows.
  if (refusal.status >= 500 && !(refusal instanceof DaemonRefusalError) && !(refusal instanceof ProxyBusyError)) {
    request.log.error({ err: error, stage: stage.name }, "stage failed");
  }
  request.refusal = refusal;
  return request;
}

/**
 * All stages, in order, as one operator. It behaves like the stages'
 * operators piped one after the other, but runs them in one loop that stays
 * synchronous until a stage returns a promise: a plain request then costs
 * one RxJS step instead of one per stage.
 */
export function pipelineOf(stages: readonly Stage[]): MonoTypeOperatorFunction<ProxyRequest> {
  return concatMap((request: ProxyRequest): Observable<ProxyRequest> => {
    const result = runStages(stages, 0, request);
    return result instanceof Promise ? from(result) : of(result);
  });
}

/** Runs `stages` from `first` on; the promise it may return never rejects (errors become refusals). */
function runStages(stages: readonly Stage[], first: number, request: ProxyRequest): ProxyRequest | Promise<ProxyRequest> {
  let current = request;
  for (let index = first; index < stages.length && !current.refusal; index++) {
    const stage = stages[index]!;
    let result: ProxyRequest | Promise<ProxyRequest>;
    try {
      result = stage.process(current);
    } catch (error) {
      return refused(current, error, stage);
    }
    if (result instanceof Promise) {
      const pending = current;
      return result.then(
        (next) => runStages(stages, index + 1, next),
        (error: unknown) => refused(pending, error, stage),
      );
    }
    current = result;
  }
  return current;
}
