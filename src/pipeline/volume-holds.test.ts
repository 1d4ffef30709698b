import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type Release, VolumeHolds, type WaitingClaim } from "./volume-holds.js";

const use = (...names: string[]) => ({ kind: "use", names }) as const;
const remove = (name: string) => ({ kind: "remove", name }) as const;
const PRUNE = { kind: "prune" } as const;

function inForce(claimed: Release | WaitingClaim): Release {
  if (typeof claimed !== "function") throw new Error("expected the claim in force at once, it waits");
  return claimed;
}

function waits(claimed: Release | WaitingClaim): WaitingClaim {
  if (typeof claimed === "function") throw new Error("expected the claim to wait, it is in force at once");
  return claimed;
}

/** Records the order in which waiting claims are granted or refused. */
function track(log: string[], name: string, waiting: WaitingClaim): Promise<Release | undefined> {
  return waiting.granted.then(
    (release) => {
      log.push(`${name} granted`);
      return release;
    },
    (error: { code: string; message: string }) => {
      log.push(`${name} refused ${error.code}`);
      return undefined;
    },
  );
}

describe("VolumeHolds", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("grants at once what conflicts with nothing: creates share names, removals of other names, removals with each other", () => {
    const holds = new VolumeHolds();
    inForce(holds.claim(use("a", "b")));
    inForce(holds.claim(use("a")));
    inForce(holds.claim(remove("c")));
    inForce(holds.claim(remove("c")));
    expect(holds.size).toEqual({ inForce: 4, waiting: 0 });
    // A prune conflicts with any create, whatever its names.
    waits(holds.claim(PRUNE));
  });

  it("a delete of a used name waits for the create's release, then is granted", async () => {
    const holds = new VolumeHolds();
    const release = inForce(holds.claim(use("cache")));
    const log: string[] = [];
    const deleting = track(log, "delete", waits(holds.claim(remove("cache"))));
    await Promise.resolve();
    expect(log).toEqual([]);
    release();
    release(); // a second call changes nothing
    await deleting;
    expect(log).toEqual(["delete granted"]);
    expect(holds.size).toEqual({ inForce: 1, waiting: 0 });
  });

  it("a create waits for a delete or prune under way that may remove one of its names", async () => {
    const holds = new VolumeHolds();
    const deleteDone = inForce(holds.claim(remove("cache")));
    const pruneDone = inForce(holds.claim(PRUNE));
    const log: string[] = [];
    const creating = track(log, "create", waits(holds.claim(use("other", "cache"))));
    deleteDone();
    await Promise.resolve();
    expect(log, "the prune may remove it still").toEqual([]);
    pruneDone();
    await creating;
    expect(log).toEqual(["create granted"]);
    expect(holds.isUsed("cache")).toBe(true);
  });

  it("first come, first served: creates that arrive while a prune waits go after it (a stream of creates cannot starve a prune)", async () => {
    const holds = new VolumeHolds();
    const firstCreate = inForce(holds.claim(use("a")));
    const log: string[] = [];
    const prune = track(log, "prune", waits(holds.claim(PRUNE)));
    // Conflicts with nothing in force (creates share), but with the waiting prune.
    const secondCreate = track(log, "create", waits(holds.claim(use("b"))));
    // A delete of another name conflicts with neither: granted at once.
    inForce(holds.claim(remove("z")));
    firstCreate();
    const pruneDone = await prune;
    expect(log).toEqual(["prune granted"]);
    pruneDone?.();
    await secondCreate;
    expect(log).toEqual(["prune granted", "create granted"]);
  });

  it("and the other way round: a prune loop cannot starve a create", async () => {
    const holds = new VolumeHolds();
    const firstPrune = inForce(holds.claim(PRUNE));
    const log: string[] = [];
    const create = track(log, "create", waits(holds.claim(use("a"))));
    const secondPrune = track(log, "prune", waits(holds.claim(PRUNE)));
    firstPrune();
    const createDone = await create;
    await Promise.resolve();
    expect(log).toEqual(["create granted"]);
    createDone?.();
    await secondPrune;
    expect(log).toEqual(["create granted", "prune granted"]);
  });

  it("a waiter is refused with 409 after the wait limit, saying what it waited for, and those behind it that waited only for it go on", async () => {
    const holds = new VolumeHolds(1_000);
    inForce(holds.claim(use("slow", "b", "c", "d")));
    const log: string[] = [];
    const prune = waits(holds.claim(PRUNE));
    const refusal = prune.granted.catch((error: unknown) => error);
    vi.advanceTimersByTime(500);
    // Waits behind the prune only (its own name is not used by anything in force).
    const create = track(log, "create", waits(holds.claim(use("e"))));
    vi.advanceTimersByTime(500);
    expect(await refusal).toMatchObject({
      code: "DCP_VOLUME_HELD",
      status: 409,
      message: "a volume prune waited 1 s for a container create using volumes slow, b, c and 1 more through this proxy; try again",
    });
    await create;
    expect(log).toEqual(["create granted"]);
  });

  it("keeps a claim in force for as long as it takes: no time limit on it (a create can wait at the daemon behind a slow request)", () => {
    const holds = new VolumeHolds(1_000);
    const release = inForce(holds.claim(use("slow")));
    vi.advanceTimersByTime(24 * 60 * 60_000);
    expect(holds.isUsed("slow")).toBe(true);
    release();
    expect(holds.isUsed("slow")).toBe(false);
  });

  it("a cancelled waiter leaves the queue and lets those behind it go on; cancelling after the grant changes nothing", async () => {
    const holds = new VolumeHolds();
    const createDone = inForce(holds.claim(use("a")));
    const log: string[] = [];
    const waitingPrune = waits(holds.claim(PRUNE));
    const prune = track(log, "prune", waitingPrune);
    const create = track(log, "create", waits(holds.claim(use("b"))));
    waitingPrune.cancel();
    await prune;
    await create;
    expect(log).toEqual(["prune refused DCP_VOLUME_HELD", "create granted"]);
    createDone();
    const waitingDelete = waits(holds.claim(remove("b")));
    (await create)?.();
    const deleteDone = await waitingDelete.granted;
    waitingDelete.cancel();
    expect(holds.size).toEqual({ inForce: 1, waiting: 0 });
    deleteDone();
    expect(holds.size).toEqual({ inForce: 0, waiting: 0 });
  });

  it("two equal claims in force are two: the first release leaves the second prune's claim in force", async () => {
    const holds = new VolumeHolds();
    const prune = { kind: "prune" } as const;
    const firstDone = inForce(holds.claim(prune));
    const secondDone = inForce(holds.claim(prune));
    const log: string[] = [];
    const create = track(log, "create", waits(holds.claim(use("a"))));
    firstDone();
    await Promise.resolve();
    expect(log).toEqual([]);
    secondDone();
    await create;
    expect(log).toEqual(["create granted"]);
  });
});
