import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BodyBudget, type BodyLease } from "./body-budget.js";

function atOnce(leased: BodyLease | Promise<BodyLease>): BodyLease {
  if (leased instanceof Promise) throw new Error("expected a lease at once, it waits");
  return leased;
}

function waits(leased: BodyLease | Promise<BodyLease>): Promise<BodyLease> {
  if (!(leased instanceof Promise)) throw new Error("expected to wait, leased at once");
  return leased;
}

/** Records the order in which waiting leases are granted or refused. */
function track(log: string[], name: string, waiting: Promise<BodyLease>): Promise<BodyLease | undefined> {
  return waiting.then(
    (lease) => {
      log.push(`${name} granted`);
      return lease;
    },
    (error: { code: string; status: number }) => {
      log.push(`${name} refused ${error.status} ${error.code}`);
      return undefined;
    },
  );
}

describe("BodyBudget", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("leases at once while the bodies fit, and counts what they hold", () => {
    const budget = new BodyBudget(100);
    const a = atOnce(budget.lease(60));
    const b = atOnce(budget.lease(40));
    expect(budget.heldBytes).toBe(100);
    a.release();
    a.release(); // a second release gives nothing back twice
    expect(budget.heldBytes).toBe(40);
    b.release();
    expect(budget.heldBytes).toBe(0);
  });

  it("a body that does not fit waits until enough is given back, first come first served: a small body does not pass a large one", async () => {
    const budget = new BodyBudget(100);
    const a = atOnce(budget.lease(70));
    const log: string[] = [];
    const large = track(log, "large", waits(budget.lease(80)));
    const small = track(log, "small", waits(budget.lease(30))); // it would fit now, but the large one came first
    await Promise.resolve();
    expect(log).toEqual([]);
    a.release();
    const largeLease = await large;
    expect(log).toEqual(["large granted"]);
    expect(budget.heldBytes).toBe(80);
    largeLease!.release();
    await small;
    expect(log).toEqual(["large granted", "small granted"]);
  });

  it("refuses with 503 DCP_PROXY_BUSY after the wait limit; the bodies behind it then go", async () => {
    const budget = new BodyBudget(100, 1000);
    atOnce(budget.lease(50));
    const log: string[] = [];
    const large = track(log, "large", waits(budget.lease(90)));
    const small = track(log, "small", waits(budget.lease(20)));
    await vi.advanceTimersByTimeAsync(999);
    expect(log).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await Promise.all([large, small]);
    expect(log).toEqual(["large refused 503 DCP_PROXY_BUSY", "small granted"]);
    expect(budget.waitingCount).toBe(0);
    expect(budget.heldBytes).toBe(70);
  });

  it("refuses at once a body larger than the whole budget", async () => {
    const budget = new BodyBudget(100);
    await expect(budget.lease(101)).rejects.toMatchObject({ status: 503, code: "DCP_PROXY_BUSY" });
    expect(budget.waitingCount).toBe(0);
  });

  it("grows a lease while it fits and nothing waits; a release gives back what it grew", () => {
    const budget = new BodyBudget(100);
    const chunked = atOnce(budget.lease(0));
    expect(chunked.grow(60)).toBe(true);
    expect(chunked.grow(30)).toBe(true);
    expect(chunked.bytes).toBe(90);
    expect(chunked.grow(11)).toBe(false);
    expect(chunked.bytes).toBe(90);
    const other = atOnce(budget.lease(10));
    void budget.lease(50); // waits
    other.release();
    expect(chunked.grow(5)).toBe(false); // room now, but a body waits for it
    chunked.release();
    expect(budget.heldBytes).toBe(50); // the waiter's
    expect(chunked.grow(1)).toBe(false); // released: grows no more
  });
});
