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
  private readonly earlierWaiters: EarlierWaiter[] = [];
  /** The highest request sequence number whose exchange is over. */
  private overThrough = 0;
  private gone = false;

  /**
   * Calls `callback` once, when the exchange of `request` is over (answered,
   * refused or failed) or its connection is gone; at once if it is gone already.
   */
  whenOver(request: ProxyRequest, callback: () => void): void {
    if (this.gone) {
      callback();
      return;
    }
    const registered = this.callbacks.get(request);
    if (registered) registered.push(callback);
    else this.callbacks.set(request, [callback]);
  }

  /** Whether something waits for the end of `request`'s exchange. */
  watches(request: ProxyRequest): boolean {
    return this.callbacks.has(request);
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
    if (this.callbacks.size === 0) return; // the common case: a plain request
    const registered = this.callbacks.get(request);
    if (!registered) return;
    this.callbacks.delete(request);
    for (const callback of registered) callback();
  }

  /**
   * The connection is gone: every exchange not over yet is over now, except
   * those in `stillRunning` (sent, and the daemon may still be carrying them
   * out), which end with over(), or at a later call without them. Anything
   * registered from now on runs at once.
   */
  connectionGone(stillRunning: readonly ProxyRequest[] = []): void {
    this.gone = true;
    for (const waiter of this.earlierWaiters.splice(0)) waiter.reject(connectionGone());
    for (const request of [...this.callbacks.keys()]) {
      if (!stillRunning.includes(request)) this.runCallbacks(request);
    }
  }

  private runCallbacks(request: ProxyRequest): void {
    const registered = this.callbacks.get(request);
    this.callbacks.delete(request);
    for (const callback of registered ?? []) callback();
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

function connectionGone(): ProxyError {
  // Never sent: there is nobody to send it to. 499 is nginx's "client closed request".
  return new ProxyError("DCP_CLIENT_GONE", 499, "the client connection is gone");
}
