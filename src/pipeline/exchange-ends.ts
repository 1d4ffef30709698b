/**
 * Per connection: where its exchanges stand, for stages that must know,
 * e.g. to release the volume names a container create holds
 * (volume-holds.ts) once the daemon has answered it.
 *
 * A stage registers while the request is still in the stages, and the
 * registration counts from then on: if the client connection is gone before
 * the request ever leaves the stages (the proxy then never sends it), the
 * callbacks run when the connection goes, not never. A registration after
 * the connection is gone runs at once.
 *
 * Exchanges end in request order (HTTP/1.1 answers in order, refusals
 * included), so "every earlier exchange is over" is a sequence number.
 */
import { ProxyError } from "../errors.js";
import type { ProxyRequest } from "./proxy-request.js";

interface EarlierWaiter {
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (error: ProxyError) => void;
}

export class ExchangeEnds {
  private readonly callbacks = new Map<ProxyRequest, Array<() => void>>();
  private readonly answerCallbacks = new Map<ProxyRequest, Array<() => void>>();
  private readonly settleCallbacks = new Map<ProxyRequest, Array<() => void>>();
  private readonly earlierWaiters: EarlierWaiter[] = [];
  /** The highest request sequence number whose exchange is over. */
  private overThrough = 0;
  private gone = false;

  /**
   * Calls `callback` once, when the exchange of `request` is over (answered,
   * refused or failed) or its connection is gone; at once if it is gone already.
   */
  whenOver(request: ProxyRequest, callback: () => void): void {
    this.register(this.callbacks, request, callback);
  }

  /**
   * Calls `callback` once, when the daemon's answer to `request` begins (its
   * final head has arrived), or the exchange is over without one (refused,
   * failed), or the connection is gone; at once if any of that has happened.
   * For the calls that claim volumes (create, delete, prune) the daemon
   * writes the head only once it has done the work: what they hold can end
   * then, however slowly the client reads the rest.
   */
  whenAnswered(request: ProxyRequest, callback: () => void): void {
    this.register(this.answerCallbacks, request, callback);
  }

  /**
   * Calls `callback` once, at the first of: the daemon's answer to `request`
   * begins, its exchange is over, or its connection is gone (even while the
   * proxy still reads the daemon's answer to it for a claim, see
   * connectionGone). Unlike whenAnswered and whenOver, it does not make the
   * proxy read on for that answer. For what the daemon is done with once it
   * answers, whatever the client does with the answer: the memory a
   * buffered body takes (body-budget.ts).
   */
  whenSettled(request: ProxyRequest, callback: () => void): void {
    this.register(this.settleCallbacks, request, callback);
  }

  /** Whether something waits for `request`'s answer or the end of its exchange (whenSettled does not count). */
  watches(request: ProxyRequest): boolean {
    return this.callbacks.has(request) || this.answerCallbacks.has(request);
  }

  /** The daemon's answer to `request` has begun. */
  answered(request: ProxyRequest): void {
    if (this.answerCallbacks.size > 0) run(this.answerCallbacks, request);
    if (this.settleCallbacks.size > 0) run(this.settleCallbacks, request);
  }

  /**
   * Undefined when every exchange before `request` on its connection is
   * over; else a promise that resolves when they are, or rejects when the
   * connection is gone first (the request will never be sent).
   */
  earlierOver(request: ProxyRequest): Promise<void> | undefined {
    if (this.gone) return Promise.reject(connectionGone());
    if (this.overThrough >= request.seq - 1) return undefined;
    return new Promise<void>((resolve, reject) => this.earlierWaiters.push({ seq: request.seq, resolve, reject }));
  }

  /** The exchange of `request` is over. */
  over(request: ProxyRequest): void {
    if (request.seq > this.overThrough) this.overThrough = request.seq;
    if (this.earlierWaiters.length > 0) this.wakeEarlierWaiters();
    // The common case, a plain request, has nothing registered.
    if (this.answerCallbacks.size > 0) run(this.answerCallbacks, request);
    if (this.callbacks.size > 0) run(this.callbacks, request);
    if (this.settleCallbacks.size > 0) run(this.settleCallbacks, request);
  }

  /**
   * The connection is gone: every exchange not over yet is over now, except
   * those in `stillRunning` (sent, and the daemon may still be carrying them
   * out), which end with over(), or at a later call without them (what was
   * registered with whenSettled ends now for every exchange). Anything
   * registered from now on runs at once.
   */
  connectionGone(stillRunning: readonly ProxyRequest[] = []): void {
    this.gone = true;
    for (const waiter of this.earlierWaiters.splice(0)) waiter.reject(connectionGone());
    for (const request of [...this.settleCallbacks.keys()]) run(this.settleCallbacks, request);
    for (const registry of [this.answerCallbacks, this.callbacks]) {
      for (const request of [...registry.keys()]) {
        if (!stillRunning.includes(request)) run(registry, request);
      }
    }
  }

  private register(registry: Map<ProxyRequest, Array<() => void>>, request: ProxyRequest, callback: () => void): void {
    // Exchanges end in request order: one at or before the last one over is over too
    // (a stage or the sink may register after the daemon has answered: a request
    // whose body stays open until the answer, as a possible hijack's does).
    if (this.gone || request.seq <= this.overThrough) {
      callback();
      return;
    }
    const registered = registry.get(request);
    if (registered) registered.push(callback);
    else registry.set(request, [callback]);
  }

  private wakeEarlierWaiters(): void {
    for (let index = this.earlierWaiters.length - 1; index >= 0; index--) {
      const waiter = this.earlierWaiters[index]!;
      if (this.overThrough < waiter.seq - 1) continue;
      this.earlierWaiters.splice(index, 1);
      waiter.resolve();
    }
  }
}

function run(registry: Map<ProxyRequest, Array<() => void>>, request: ProxyRequest): void {
  const registered = registry.get(request);
  if (!registered) return;
  registry.delete(request);
  for (const callback of registered) callback();
}

/**
 * For a request that will never be sent: its client is gone, or the daemon
 * ended the connection (then the client gets it, and the connection closes).
 * 499 is nginx's "client closed request".
 */
export function connectionGone(): ProxyError {
  return new ProxyError("DCP_CLIENT_GONE", 499, "the connection ended before this request could be sent to the daemon");
}
