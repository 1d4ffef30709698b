/**
 * Where the JSON log lines go: a file descriptor (stdout), written in batches.
 *
 * A busy proxy logs one line per request, thousands a second. pino's own
 * asynchronous destination (sonic-boom) cost about 9 µs per line here, more
 * than parsing and relaying the request itself, and a write per line would be
 * a system call each. This writer keeps the lines in an array and writes them
 * with one `fs.write` when 16 KiB have gathered or 50 ms after the first
 * unwritten line: about 1 µs per line.
 *
 * Writes are asynchronous (the thread pool), so a log reader that stalls
 * never stalls the Docker traffic; while it stalls, lines wait in memory up
 * to a cap, and lines past the cap are dropped and counted (a line saying how
 * many follows once the reader catches up). At exit, `flushSync` writes what
 * is left.
 */
import { write as fsWrite, writeSync as fsWriteSync } from "node:fs";

export interface LineWriterOptions {
  readonly fd: number;
  /** Bytes gathered before a write starts without waiting for the timer. */
  readonly batchBytes?: number;
  /** Longest a line waits in memory while nothing is being written. */
  readonly flushDelayMs?: number;
  /** Lines waiting beyond this many bytes are dropped (a stalled reader must not grow memory without bound). */
  readonly maxPendingBytes?: number;
  /** For tests: the asynchronous and synchronous writes (fs.write and fs.writeSync). */
  readonly write?: (fd: number, bytes: Buffer, done: (error: NodeJS.ErrnoException | null, written: number) => void) => void;
  readonly writeSync?: (fd: number, bytes: Buffer) => number;
}

const RETRY_DELAY_MS = 20;

export class BatchedLineWriter {
  private lines: string[] = [];
  private pendingBytes = 0;
  private dropped = 0;
  /** Bytes handed to a write that has not completed (a partial write's rest stays here). */
  private inFlight: Buffer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly batchBytes: number;
  private readonly flushDelayMs: number;
  private readonly maxPendingBytes: number;
  private readonly writeAsync: NonNullable<LineWriterOptions["write"]>;
  private readonly writeNow: NonNullable<LineWriterOptions["writeSync"]>;

  constructor(private readonly options: LineWriterOptions) {
    this.batchBytes = options.batchBytes ?? 16 * 1024;
    this.flushDelayMs = options.flushDelayMs ?? 50;
    this.maxPendingBytes = options.maxPendingBytes ?? 16 * 1024 * 1024;
    this.writeAsync = options.write ?? ((fd, bytes, done) => fsWrite(fd, bytes, 0, bytes.length, null, (error, written) => done(error, written)));
    this.writeNow = options.writeSync ?? ((fd, bytes) => fsWriteSync(fd, bytes));
  }

  /** pino's destination interface: one serialized line, newline included. */
  write(line: string): void {
    if (this.pendingBytes + line.length > this.maxPendingBytes) {
      this.dropped++;
      return;
    }
    this.lines.push(line);
    this.pendingBytes += line.length;
    if (this.inFlight) return; // the write in flight takes the next batch when it completes
    if (this.pendingBytes >= this.batchBytes) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.flushDelayMs).unref();
  }

  /** Starts writing what has gathered, unless a write is already under way. */
  flush(): void {
    this.clearTimer();
    if (this.inFlight || this.lines.length === 0) return;
    this.writeBatch(this.takeBatch());
  }

  /**
   * Writes everything still in memory before the process exits, blocking.
   * A write still in flight may already have reached the descriptor: it is
   * written again, because a repeated line is better than losing the last
   * lines before exit (often the ones that say why).
   */
  flushSync(): void {
    this.clearTimer();
    const rest = Buffer.concat([this.inFlight ?? Buffer.alloc(0), this.takeBatch()]);
    this.inFlight = undefined;
    let offset = 0;
    let attempts = 0;
    while (offset < rest.length && attempts < 1000) {
      try {
        offset += this.writeNow(this.options.fd, rest.subarray(offset));
      } catch (error) {
        // A non-blocking pipe that is full: try again, a bounded number of times.
        if ((error as NodeJS.ErrnoException).code !== "EAGAIN") return;
        attempts++;
      }
    }
  }

  private takeBatch(): Buffer {
    let text = this.lines.join("");
    this.lines = [];
    this.pendingBytes = 0;
    if (this.dropped > 0) {
      text += `${JSON.stringify({ level: 40, time: Date.now(), msg: "log lines dropped: stdout was not being read", dropped: this.dropped })}\n`;
      this.dropped = 0;
    }
    return Buffer.from(text, "utf8");
  }

  private writeBatch(bytes: Buffer): void {
    this.inFlight = bytes;
    this.writeAsync(this.options.fd, bytes, (error, written) => {
      if (this.inFlight !== bytes) return; // flushSync took over
      if (error) {
        if (error.code === "EAGAIN") {
          setTimeout(() => this.inFlight === bytes && this.writeBatch(bytes), RETRY_DELAY_MS).unref();
          return;
        }
        // stdout is gone (EPIPE, EBADF): nothing can be logged any more; keep memory flat.
        this.inFlight = undefined;
        this.lines = [];
        this.pendingBytes = 0;
        return;
      }
      if (written < bytes.length) {
        this.writeBatch(bytes.subarray(written));
        return;
      }
      this.inFlight = undefined;
      if (this.pendingBytes >= this.batchBytes) this.flush();
      else if (this.lines.length > 0) this.timer ??= setTimeout(() => this.flush(), this.flushDelayMs).unref();
    });
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
