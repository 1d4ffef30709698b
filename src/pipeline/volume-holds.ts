/**
 * Volume names in flight through this proxy, so that a volume it creates
 * ahead of a container create (create-bind-volumes) cannot be removed
 * before the create has made the container use it. Otherwise the daemon
 * would make the volume again for the container, without labels.
 *
 * Three kinds of claims, each kept until the daemon's answer to its request
 * begins (for these calls the daemon writes it once the work is done), or
 * the exchange is over without one, or, for a request never sent, its
 * connection is gone (exchange-ends.ts). Each claiming request is sent to
 * the daemon alone, after every earlier answer on its connection, so a claim
 * in force lasts the daemon's time for that one call. There is no time
 * limit on a claim in force: a lapsed one would let a delete through.
 * - use: names created ahead of a container create.
 * - remove: a volume delete.
 * - prune: a volume prune, the same for every unused volume.
 *
 * A use conflicts with a remove of one of its names and with any prune.
 * A claim that conflicts with one in force, or with one waiting before it,
 * waits its turn (first come, first served, so a stream of creates cannot
 * starve a prune, nor a prune loop the creates), for at most `waitLimitMs`.
 * After that it is refused (409, try again): every client gets an answer
 * before the usual 60 s client timeouts, whatever the daemon does with the
 * call it waits for.
 * Waiting replaces refusing because the race is a normal one in CI: a
 * clean-up job's `docker volume prune` while other jobs start containers.
 */
import { RewriteError } from "../errors.js";
import type { ProxyRequest } from "./proxy-request.js";

export type VolumeClaim =
  | { readonly kind: "use"; readonly names: readonly string[] }
  | { readonly kind: "remove"; readonly name: string }
  | { readonly kind: "prune" };

/** Ends a claim; calling it again does nothing. */
export type Release = () => void;

/** A claim waiting its turn. */
export interface WaitingClaim {
  /** Resolves with the claim in force; rejects with a 409 ProxyError after the wait limit, or when cancelled. */
  readonly granted: Promise<Release>;
  /** Gives up waiting (the client is gone); does nothing once granted. */
  cancel(): void;
}

/** Long enough for any call that holds volumes to finish (a prune of big volumes takes seconds), short of client timeouts. */
export const DEFAULT_WAIT_LIMIT_MS = 30_000;

/** One claim in force. Its own object: two equal claims (two prunes) are two entries, each ended by its own release. */
interface InForce {
  readonly claim: VolumeClaim;
}

interface Waiter {
  readonly claim: VolumeClaim;
  readonly grant: (release: Release) => void;
  readonly refuse: (error: RewriteError) => void;
  timer: NodeJS.Timeout | undefined;
}

export class VolumeHolds {
  private readonly inForce = new Set<InForce>();
  private readonly waiting: Waiter[] = [];

  constructor(private readonly waitLimitMs = DEFAULT_WAIT_LIMIT_MS) {}

  /** The claim in force at once (its release), or a claim waiting its turn. */
  claim(claim: VolumeClaim): Release | WaitingClaim {
    if (!this.waitersConflict(claim, this.waiting.length) && this.conflictInForce(claim) === undefined) return this.enforce(claim);
    let waiter!: Waiter;
    const granted = new Promise<Release>((grant, refuse) => {
      waiter = { claim, grant, refuse, timer: undefined };
    });
    waiter.timer = setTimeout(() => {
      const blocker = this.conflictInForce(claim) ?? this.firstWaiterConflicting(claim);
      const waited = `${describe(claim)} waited ${this.waitLimitMs / 1000} s for ${describe(blocker)} through this proxy`;
      this.dropWaiter(waiter, () => new RewriteError("DCP_VOLUME_HELD", `${waited}; try again`, 409));
    }, this.waitLimitMs);
    this.waiting.push(waiter);
    return {
      granted,
      cancel: () => this.dropWaiter(waiter, () => new RewriteError("DCP_VOLUME_HELD", `${describe(claim)} stopped waiting: its client is gone`, 409)),
    };
  }

  /** Whether `name` is used by a create in force (for tests and logs). */
  isUsed(name: string): boolean {
    for (const { claim } of this.inForce) if (claim.kind === "use" && claim.names.includes(name)) return true;
    return false;
  }

  /** How many claims are in force and waiting. */
  get size(): { readonly inForce: number; readonly waiting: number } {
    return { inForce: this.inForce.size, waiting: this.waiting.length };
  }

  private enforce(claim: VolumeClaim): Release {
    const entry: InForce = { claim };
    this.inForce.add(entry);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inForce.delete(entry);
      this.grantWaiters();
    };
  }

  /** Grants, in order, every waiter that conflicts neither with a claim in force nor with a waiter before it. */
  private grantWaiters(): void {
    for (let index = 0; index < this.waiting.length; ) {
      const waiter = this.waiting[index]!;
      if (this.conflictInForce(waiter.claim) !== undefined || this.waitersConflict(waiter.claim, index)) {
        index++;
        continue;
      }
      this.waiting.splice(index, 1);
      clearTimeout(waiter.timer);
      waiter.grant(this.enforce(waiter.claim));
    }
  }

  private dropWaiter(waiter: Waiter, refusal: () => RewriteError): void {
    const index = this.waiting.indexOf(waiter);
    if (index < 0) return; // granted, refused or cancelled already
    this.waiting.splice(index, 1);
    clearTimeout(waiter.timer);
    waiter.refuse(refusal());
    // Waiters behind it may have waited for it only.
    this.grantWaiters();
  }

  private conflictInForce(claim: VolumeClaim): VolumeClaim | undefined {
    for (const { claim: other } of this.inForce) if (conflicts(claim, other)) return other;
    return undefined;
  }

  /** Whether one of the first `count` waiters conflicts with `claim`. */
  private waitersConflict(claim: VolumeClaim, count: number): boolean {
    for (let index = 0; index < count; index++) if (conflicts(claim, this.waiting[index]!.claim)) return true;
    return false;
  }

  private firstWaiterConflicting(claim: VolumeClaim): VolumeClaim | undefined {
    return this.waiting.find((waiter) => conflicts(claim, waiter.claim))?.claim;
  }
}

function conflicts(a: VolumeClaim, b: VolumeClaim): boolean {
  if (a.kind === "use") return b.kind !== "use" && removes(b, a.names);
  return b.kind === "use" && removes(a, b.names);
}

function removes(removal: VolumeClaim, names: readonly string[]): boolean {
  if (removal.kind === "prune") return true;
  return removal.kind === "remove" && names.includes(removal.name);
}

function describe(claim: VolumeClaim | undefined): string {
  switch (claim?.kind) {
    case "use": {
      const shown = claim.names.slice(0, 3).join(", ");
      const more = claim.names.length > 3 ? ` and ${claim.names.length - 3} more` : "";
      return `a container create using volume${claim.names.length > 1 ? "s" : ""} ${shown}${more}`;
    }
    case "remove":
      return `a delete of volume ${claim.name}`;
    case "prune":
      return "a volume prune";
    default:
      return "another request";
  }
}

/**
 * Claims until the daemon's answer to `request` begins, or its exchange is
 * over without one, or its connection is gone.
 * Undefined when the claim is in force at once; otherwise a promise that
 * resolves once it is, or rejects with a 409 ProxyError.
 */
export function claimUntilAnswered(holds: VolumeHolds, request: ProxyRequest, claim: VolumeClaim): Promise<void> | undefined {
  const claimed = holds.claim(claim);
  // Until the daemon's answer begins: it has done the work by then.
  if (typeof claimed === "function") {
    request.exchangeEnds.whenAnswered(request, claimed);
    return undefined;
  }
  // A client connection that closes while its request waits stops the wait.
  // (Not the end of the client's input: it may still read the answer.)
  request.exchangeEnds.whenAnswered(request, claimed.cancel);
  return claimed.granted.then((release) => request.exchangeEnds.whenAnswered(request, release));
}
