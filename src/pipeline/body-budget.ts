/**
 * How many bytes of request bodies the proxy holds in memory at once, over
 * all its connections (`--max-buffered`). `--max-body` bounds one body; this
 * bounds their sum, so that many clients sending large creates at once
 * cannot grow the proxy past the memory of the agent it runs in (30 clients
 * sending 15 MiB creates took it to 1.3 GiB before).
 *
 * A body of known length (Content-Length, what the docker CLI, docker-py and
 * dockerode send) takes its whole size before a byte of it is read, and
 * waits its turn when it does not fit: first come, first served, so small
 * bodies cannot starve a large one. Its bytes meanwhile stay in the client
 * and the kernel's socket buffers. After `waitLimitMs` it is refused (503,
 * try again), well before the usual 60 s client timeouts.
 *
 * A chunked body declares no length: it grows its share chunk by chunk, and
 * is refused at once when the next chunk does not fit, or when a body waits
 * for room (the room freed is that body's). It cannot wait while it holds a
 * part: bodies each holding a part and waiting for more could wait for each
 * other.
 *
 * What a body holds comes back when the daemon's answer to it begins (the
 * daemon has read it by then, and the sink has let go of it), or its
 * exchange is over without one, or its connection is gone: buffer-body
 * registers that with exchange-ends.ts.
 */
import { type ProxyError, ProxyBusyError } from "../errors.js";

/** Long enough for a few large bodies ahead to reach the daemon, short of client timeouts. */
export const DEFAULT_BUDGET_WAIT_MS = 30_000;

/** Four bodies of the largest size at once: 64 MiB with the default `--max-body` of 16 MiB. */
export function defaultMaxBuffered(maxBodyBytes: number): number {
  return 4 * maxBodyBytes;
}

/** The budget for these limits: `maxBufferedBytes`, or four bodies of `maxBodyBytes`. */
export function bodyBudgetFor(limits: { readonly maxBodyBytes: number; readonly maxBufferedBytes?: number | undefined }): BodyBudget {
  return new BodyBudget(limits.maxBufferedBytes ?? defaultMaxBuffered(limits.maxBodyBytes));
}

/** A share of the budget, held by one body. */
export interface BodyLease {
  /** Bytes held now. */
  readonly bytes: number;
  /**
   * Takes `bytes` more at once, if they fit and nothing waits; false
   * otherwise (the lease is unchanged).
   */
  grow(bytes: number): boolean;
  /** Gives everything back; calling it again does nothing. */
  release(): void;
}

interface Waiter {
  readonly bytes: number;
  readonly grant: (lease: BodyLease) => void;
  readonly refuse: (error: ProxyError) => void;
  readonly timer: NodeJS.Timeout;
}

export class BodyBudget {
  private held = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    readonly limitBytes: number,
    private readonly waitLimitMs = DEFAULT_BUDGET_WAIT_MS,
  ) {}

  /** Bytes held by all bodies now. */
  get heldBytes(): number {
    return this.held;
  }

  /** How many bodies wait for their share. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /**
   * A lease of `bytes` at once, or a promise of one once the bodies ahead
   * have given enough back. Rejects with 503 `DCP_PROXY_BUSY` after the wait
   * limit, or at once for more than the whole budget.
   */
  lease(bytes: number): BodyLease | Promise<BodyLease> {
    if (bytes > this.limitBytes) return Promise.reject(this.busy(bytes, "is larger than"));
    if (this.waiting.length === 0 && this.fits(bytes)) return this.grant(bytes);
    return new Promise<BodyLease>((grant, refuse) => {
      const waiter: Waiter = {
        bytes,
        grant,
        refuse,
        timer: setTimeout(() => this.giveUp(waiter), this.waitLimitMs),
      };
      this.waiting.push(waiter);
    });
  }

  private fits(bytes: number): boolean {
    return this.held + bytes <= this.limitBytes;
  }

  private grant(bytes: number): BodyLease {
    this.held += bytes;
    let leased = bytes;
    let released = false;
    return {
      get bytes() {
        return leased;
      },
      grow: (more: number) => {
        if (released || this.waiting.length > 0 || !this.fits(more)) return false;
        this.held += more;
        leased += more;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.held -= leased;
        this.grantWaiters();
      },
    };
  }

  /** Grants waiters in order while the first one fits: a large body is not passed by smaller ones. */
  private grantWaiters(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const waiter = this.waiting.shift()!;
      clearTimeout(waiter.timer);
      waiter.grant(this.grant(waiter.bytes));
    }
  }

  private giveUp(waiter: Waiter): void {
    const index = this.waiting.indexOf(waiter);
    if (index < 0) return;
    this.waiting.splice(index, 1);
    waiter.refuse(this.busy(waiter.bytes, `waited ${this.waitLimitMs / 1000} s for room in`));
    // The bodies behind it may fit now that it no longer goes first.
    this.grantWaiters();
  }

  busy(bytes: number, what: string): ProxyBusyError {
    return new ProxyBusyError(
      `a request body of ${bytes} bytes ${what} the proxy's memory for bodies it rewrites (--max-buffered, ${this.limitBytes} bytes, ${this.held} held now); try again`,
    );
  }
}
