import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BatchedLineWriter } from "./batched-line-writer.js";

type Done = (error: NodeJS.ErrnoException | null, written: number) => void;

/** A file descriptor whose asynchronous writes complete when the test says so. */
function fakeFd() {
  const pending: Array<{ bytes: Buffer; done: Done }> = [];
  const written: string[] = [];
  return {
    pending,
    written,
    write: (_fd: number, bytes: Buffer, done: Done) => pending.push({ bytes: Buffer.from(bytes), done }),
    writeSync: vi.fn((_fd: number, bytes: Buffer) => {
      written.push(bytes.toString());
      return bytes.length;
    }),
    /** Completes the oldest write, all of it or `count` bytes of it. */
    complete(count?: number) {
      const next = pending.shift()!;
      const n = count ?? next.bytes.length;
      written.push(next.bytes.subarray(0, n).toString());
      next.done(null, n);
    },
    fail(code: string) {
      const next = pending.shift()!;
      next.done(Object.assign(new Error(code), { code }), 0);
    },
  };
}

describe("BatchedLineWriter", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("writes nothing until the delay has passed, then everything in one write, in order", () => {
    const fd = fakeFd();
    const writer = new BatchedLineWriter({ fd: 1, flushDelayMs: 50, write: fd.write });
    writer.write("a\n");
    writer.write("b\n");
    vi.advanceTimersByTime(49);
    expect(fd.pending).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(fd.pending.map((p) => p.bytes.toString())).toEqual(["a\nb\n"]);
  });

  it("starts a write at once when a batch has gathered, and sends what came meanwhile after it", () => {
    const fd = fakeFd();
    const writer = new BatchedLineWriter({ fd: 1, batchBytes: 4, write: fd.write });
    writer.write("ab\n");
    writer.write("cd\n");
    expect(fd.pending.map((p) => p.bytes.toString())).toEqual(["ab\ncd\n"]);
    writer.write("ef\n");
    writer.write("gh\n");
    expect(fd.pending).toHaveLength(1); // one write at a time
    fd.complete();
    expect(fd.pending.map((p) => p.bytes.toString())).toEqual(["ef\ngh\n"]);
    fd.complete();
    expect(fd.written.join("")).toBe("ab\ncd\nef\ngh\n");
  });

  it("writes the rest of a partial write before anything newer", () => {
    const fd = fakeFd();
    const writer = new BatchedLineWriter({ fd: 1, batchBytes: 1, write: fd.write });
    writer.write("hello\n");
    writer.write("next\n");
    fd.complete(3);
    expect(fd.pending[0]!.bytes.toString()).toBe("lo\n");
    fd.complete();
    fd.complete();
    expect(fd.written.join("")).toBe("hello\nnext\n");
  });

  it("retries a write the pipe refused with EAGAIN", () => {
    const fd = fakeFd();
    const writer = new BatchedLineWriter({ fd: 1, batchBytes: 1, write: fd.write });
    writer.write("x\n");
    fd.fail("EAGAIN");
    expect(fd.pending).toHaveLength(0);
    vi.advanceTimersByTime(20);
    expect(fd.pending.map((p) => p.bytes.toString())).toEqual(["x\n"]);
  });

  it("drops lines past the memory cap while the reader stalls, and says how many", () => {
    const fd = fakeFd();
    const writer = new BatchedLineWriter({ fd: 1, batchBytes: 1, maxPendingBytes: 10, write: fd.write });
    writer.write("first\n"); // in flight, the reader stalls
    for (let i = 0; i < 5; i++) writer.write("line\n"); // 10 bytes fit, 3 lines dropped
    fd.complete();
    const next = fd.pending[0]!.bytes.toString();
    expect(next.startsWith("line\nline\n")).toBe(true);
    expect(JSON.parse(next.slice("line\nline\n".length))).toMatchObject({ level: 40, dropped: 3 });
  });

  it("gives up on a descriptor that is gone without keeping lines in memory", () => {
    const fd = fakeFd();
    const writer = new BatchedLineWriter({ fd: 1, batchBytes: 1, write: fd.write });
    writer.write("a\n");
    writer.write("b\n");
    fd.fail("EPIPE");
    expect(fd.pending).toHaveLength(0);
    vi.advanceTimersByTime(1000);
    expect(fd.pending).toHaveLength(0);
  });

  it("writes what is in flight and what is waiting synchronously at exit, and nothing twice", () => {
    const fd = fakeFd();
    const writer = new BatchedLineWriter({ fd: 1, batchBytes: 1, write: fd.write, writeSync: fd.writeSync });
    writer.write("one\n");
    writer.write("two\n");
    writer.flushSync();
    expect(fd.written).toEqual(["one\ntwo\n"]);
    fd.complete(); // the interrupted asynchronous write completing late changes nothing
    expect(fd.pending).toHaveLength(0);
  });

  it("schedules nothing while nothing is logged", () => {
    const fd = fakeFd();
    new BatchedLineWriter({ fd: 1, write: fd.write });
    expect(vi.getTimerCount()).toBe(0);
  });
});
