import { describe, expect, it } from "vitest";
import { ExchangeEnds } from "./exchange-ends.js";
import { testRequest } from "./test-requests.js";

describe("ExchangeEnds", () => {
  const request = (seq = 1) => testRequest("GET /_ping HTTP/1.1\r\n\r\n", undefined, seq);

  it("runs a request's callbacks, in order and once, when its exchange is over; other requests' stay", () => {
    const ends = new ExchangeEnds();
    const first = request();
    const second = request();
    const calls: string[] = [];
    ends.whenOver(first, () => calls.push("first 1"));
    ends.whenOver(first, () => calls.push("first 2"));
    ends.whenOver(second, () => calls.push("second"));
    ends.over(first);
    ends.over(first);
    expect(calls).toEqual(["first 1", "first 2"]);
    ends.over(request()); // nothing registered: nothing to do
    expect(calls).toEqual(["first 1", "first 2"]);
  });

  it("when the connection is gone: every registered callback runs, and a later registration runs at once", () => {
    const ends = new ExchangeEnds();
    const calls: string[] = [];
    const inStages = request();
    ends.whenOver(inStages, () => calls.push("registered before"));
    ends.connectionGone();
    expect(calls).toEqual(["registered before"]);
    // A stage that was still waiting (for the daemon, for a claim) when the connection went.
    ends.whenOver(inStages, () => calls.push("registered after"));
    expect(calls).toEqual(["registered before", "registered after"]);
    ends.over(inStages);
    expect(calls).toHaveLength(2);
  });

  it("keeps the callbacks of requests still running at the daemon when the connection goes, until their exchange is over", () => {
    const ends = new ExchangeEnds();
    const calls: string[] = [];
    const sent = request(1);
    const inStages = request(2);
    ends.whenOver(sent, () => calls.push("sent"));
    ends.whenOver(inStages, () => calls.push("in stages"));
    ends.connectionGone([sent]);
    expect(calls).toEqual(["in stages"]);
    expect(ends.watches(sent)).toBe(true);
    ends.over(sent);
    expect(calls).toEqual(["in stages", "sent"]);
  });

  it("whenSettled: runs when the answer begins or the exchange is over, or for every exchange when the connection goes, and keeps no answer owed", () => {
    const ends = new ExchangeEnds();
    const calls: string[] = [];
    const answered = request(1);
    const sent = request(2);
    ends.whenSettled(answered, () => calls.push("answered"));
    ends.whenSettled(sent, () => calls.push("sent"));
    expect(ends.watches(sent)).toBe(false);
    ends.answered(answered);
    expect(calls).toEqual(["answered"]);
    ends.over(answered);
    expect(calls).toEqual(["answered"]);
    ends.connectionGone([sent]); // still running at the daemon: a whenOver would wait, this does not
    expect(calls).toEqual(["answered", "sent"]);
    ends.whenSettled(request(3), () => calls.push("after"));
    expect(calls).toEqual(["answered", "sent", "after"]);
  });

  it("tells a request when every exchange before it is over; rejects the wait when the connection goes first", async () => {
    const ends = new ExchangeEnds();
    expect(ends.earlierOver(request(1)), "nothing before the first request").toBeUndefined();
    const third = ends.earlierOver(request(3));
    let settled = false;
    void third?.then(() => (settled = true));
    ends.over(request(1));
    await Promise.resolve();
    expect(settled).toBe(false);
    ends.over(request(2));
    await third;
    expect(ends.earlierOver(request(3))).toBeUndefined();
    const fifth = ends.earlierOver(request(5));
    ends.connectionGone();
    await expect(fifth).rejects.toMatchObject({ code: "DCP_CLIENT_GONE" });
    await expect(ends.earlierOver(request(3))).rejects.toMatchObject({ code: "DCP_CLIENT_GONE" });
  });
});
