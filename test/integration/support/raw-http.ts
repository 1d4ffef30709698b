// A raw HTTP/1.1 conversation over a UNIX socket: tests write exact bytes
// (pipelined, malformed, hijacking) and read back exact responses, which no
// client library would let them do.
import { connect, type Socket } from "node:net";

export interface RawResponse {
  status: number;
  /** Header lines as sent, in order. */
  headerLines: string[];
  headers: Record<string, string>;
  body: Buffer;
  /** The whole response as it arrived. */
  raw: Buffer;
}

export class RawConnection {
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  ended = false;
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on("end", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  static open(path: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ path, allowHalfOpen: true });
      socket.once("connect", () => resolve(new RawConnection(socket)));
      socket.once("error", reject);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** Everything received and not consumed yet. */
  get received(): Buffer {
    return this.buffer;
  }

  /** Waits until `predicate` holds on the received bytes, or the timeout. */
  async waitFor(predicate: (received: Buffer) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.buffer)) {
      if (this.closed || (this.ended && !predicate(this.buffer))) {
        if (predicate(this.buffer)) return;
        throw new Error(`connection ended before the expected bytes; got ${JSON.stringify(this.buffer.toString("latin1").slice(0, 500))}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.buffer.toString("latin1").slice(0, 500))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until the peer has closed its side. */
  async waitForEnd(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && !this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for the connection to end");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Reads one complete response (Content-Length, chunked, or no body for HEAD/204/304/1xx). */
  async readResponse(options: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
    let parsed: { length: number; response: RawResponse } | undefined;
    await this.waitFor((buffer) => {
      parsed = tryParseResponse(buffer, options.head ?? false);
      return parsed !== undefined;
    }, options.timeoutMs);
    const { length, response } = parsed!;
    this.buffer = this.buffer.subarray(length);
    return response;
  }

  /** Drops `count` received bytes (e.g. a response head already read). */
  consume(count: number): Buffer {
    const taken = this.buffer.subarray(0, count);
    this.buffer = this.buffer.subarray(count);
    return taken;
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

/** Parses a response head at the start of `buffer`; undefined until it is complete. */
export function parseHead(buffer: Buffer): { status: number; headerLines: string[]; headers: Record<string, string>; headLength: number } | undefined {
  const end = buffer.indexOf("\r\n\r\n");
  if (end === -1) return undefined;
  const lines = buffer.toString("latin1", 0, end).split("\r\n");
  const status = Number(lines[0]!.split(" ")[1]);
  const headerLines = lines.slice(1);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headerLines, headers, headLength: end + 4 };
}

function tryParseResponse(buffer: Buffer, isHead: boolean): { length: number; response: RawResponse } | undefined {
  const head = parseHead(buffer);
  if (!head) return undefined;
  const { status, headerLines, headers, headLength } = head;
  const done = (bodyEnd: number, body: Buffer) => ({
    length: bodyEnd,
    response: { status, headerLines, headers, body, raw: buffer.subarray(0, bodyEnd) },
  });
  if (isHead || status === 204 || status === 304 || (status >= 100 && status < 200)) return done(headLength, Buffer.alloc(0));
  if ((headers["transfer-encoding"] ?? "").toLowerCase() === "chunked") {
    const parts: Buffer[] = [];
    let i = headLength;
    for (;;) {
      const lineEnd = buffer.indexOf("\r\n", i);
      if (lineEnd === -1) return undefined;
      const size = parseInt(buffer.toString("latin1", i, lineEnd), 16);
      if (size === 0) {
        const trailerEnd = buffer.indexOf("\r\n", lineEnd + 2);
        if (trailerEnd === -1) return undefined;
        return done(trailerEnd + 2, Buffer.concat(parts));
      }
      if (lineEnd + 2 + size + 2 > buffer.length) return undefined;
      parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
      i = lineEnd + 2 + size + 2;
    }
  }
  const length = Number(headers["content-length"] ?? 0);
  if (buffer.length < headLength + length) return undefined;
  return done(headLength + length, buffer.subarray(headLength, headLength + length));
}

/** Header lines without the ones that differ between two otherwise equal responses. */
export function stableHeaderLines(lines: readonly string[]): string[] {
  return lines.filter((line) => !/^date:/i.test(line));
}
