/**
 * A minimal HTTP/1.1 keep-alive client over a UNIX socket, for the benchmark.
 *
 * Why not node:http: the client must cost as little as possible, so that the
 * thing measured is the relay, not us. Reads go into one reusable buffer
 * (`onread`), bodies are only counted unless asked for, and request bodies are
 * written from caller-provided buffers with backpressure. One request at a
 * time per connection; responses framed by Content-Length, chunked encoding,
 * or connection close.
 */
import { connect, type Socket } from "node:net";

/** A request body produced piece by piece (e.g. 256 MiB of generated tar). */
export interface BodySource {
  readonly length: number;
  chunks(): Iterable<Buffer>;
}

export interface RequestOptions {
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | BodySource;
  /** Keep the body bytes (default); false only counts them (downloads). */
  readonly keepBody?: boolean;
  readonly timeoutMs?: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  /** The body (chunk framing removed) when keepBody; empty otherwise. */
  readonly body: Buffer;
  /** Body bytes received (content, without chunk framing). */
  readonly bodyBytes: number;
}

const READ_BUFFER_BYTES = 1024 * 1024;
const MAX_KEPT_BODY = 64 * 1024 * 1024;
const HEAD_END = Buffer.from("\r\n\r\n");

type BodyState =
  | { kind: "head" }
  | { kind: "length"; remaining: number }
  | { kind: "chunk-size"; line: string }
  | { kind: "chunk-data"; remaining: number }
  | { kind: "chunk-crlf"; remaining: number }
  | { kind: "trailer"; line: string }
  | { kind: "until-close" };

interface InFlight {
  readonly method: string;
  readonly keepBody: boolean;
  head: Buffer;
  status: number;
  headers: Map<string, string>;
  state: BodyState;
  bodyParts: Buffer[];
  bodyBytes: number;
  resolve(response: HttpResponse): void;
  reject(error: Error): void;
}

export class HttpConnection {
  private inFlight: InFlight | undefined;
  private dead: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on("error", (error) => this.fail(error));
    socket.on("end", () => this.onEnd());
    socket.on("close", () => this.fail(new Error("connection closed")));
  }

  static open(socketPath: string, timeoutMs = 5000): Promise<HttpConnection> {
    return new Promise((resolve, reject) => {
      let connection: HttpConnection | undefined;
      const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
      const socket = connect({
        path: socketPath,
        onread: {
          buffer: readBuffer,
          callback: (bytes: number, buffer: Uint8Array) => {
            connection?.onData(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
            return true;
          },
        },
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${socketPath} timed out`));
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.off("error", onError);
        connection = new HttpConnection(socket);
        resolve(connection);
      });
      const onError = (error: Error) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to ${socketPath}: ${(error as NodeJS.ErrnoException).code ?? error.message}`));
      };
      socket.once("error", onError);
    });
  }

  get usable(): boolean {
    return this.dead === undefined && this.inFlight === undefined;
  }

  close(): void {
    this.dead ??= new Error("connection closed by the client");
    this.socket.destroy();
  }

  request(options: RequestOptions): Promise<HttpResponse> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.inFlight) return Promise.reject(new Error("a request is already in flight"));
    const body = options.body;
    const bodyLength = body === undefined ? 0 : body.length;
    let head = `${options.method} ${options.path} HTTP/1.1\r\nHost: docker\r\n`;
    for (const [name, value] of Object.entries(options.headers ?? {})) head += `${name}: ${value}\r\n`;
    if (body !== undefined) head += `Content-Length: ${bodyLength}\r\n`;
    head += "\r\n";

    return new Promise<HttpResponse>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        this.fail(new Error(`${options.method} ${options.path} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.inFlight = {
        method: options.method,
        keepBody: options.keepBody ?? true,
        head: Buffer.alloc(0),
        status: 0,
        headers: new Map(),
        state: { kind: "head" },
        bodyParts: [],
        bodyBytes: 0,
        resolve: (response) => {
          clearTimeout(timer);
          resolve(response);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      if (body === undefined || Buffer.isBuffer(body)) {
        this.socket.write(body === undefined || body.length === 0 ? head : Buffer.concat([Buffer.from(head, "latin1"), body]));
      } else {
        this.socket.write(head);
        void this.writeBody(body);
      }
    });
  }

  /** Streams a body with backpressure; stops if the response ends (or fails) first. */
  private async writeBody(body: BodySource): Promise<void> {
    const request = this.inFlight;
    for (const chunk of body.chunks()) {
      if (this.dead || this.inFlight !== request) return;
      if (!this.socket.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            this.socket.off("drain", done);
            this.socket.off("close", done);
            resolve();
          };
          this.socket.on("drain", done);
          this.socket.on("close", done);
        });
      }
    }
  }

  private onData(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      const request = this.inFlight;
      if (!request) {
        this.fail(new Error(`unexpected ${data.length - offset} bytes from the server`));
        return;
      }
      try {
        offset = this.consume(request, data, offset);
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
        return;
      }
    }
  }

  /** Consumes bytes of the current response from `offset`; returns the new offset. */
  private consume(request: InFlight, data: Buffer, offset: number): number {
    const state = request.state;
    switch (state.kind) {
      case "head": {
        const previous = request.head.length;
        // The read buffer is reused: copy what must outlive this call.
        request.head = Buffer.concat([request.head, data.subarray(offset)]);
        const end = request.head.indexOf(HEAD_END, Math.max(0, previous - 3));
        if (end === -1) {
          if (request.head.length > 64 * 1024) throw new Error("response head larger than 64 KiB");
          return data.length;
        }
        const consumed = end + 4 - previous;
        this.startBody(request, request.head.toString("latin1", 0, end));
        return offset + consumed;
      }
      case "length": {
        const take = Math.min(state.remaining, data.length - offset);
        this.keep(request, data, offset, take);
        state.remaining -= take;
        if (state.remaining === 0) this.complete(request);
        return offset + take;
      }
      case "until-close": {
        this.keep(request, data, offset, data.length - offset);
        return data.length;
      }
      case "chunk-size":
      case "trailer": {
        const lf = data.indexOf(0x0a, offset);
        const stop = lf === -1 ? data.length : lf;
        state.line += data.toString("latin1", offset, stop);
        if (state.line.length > 4096) throw new Error("chunk line too long");
        if (lf === -1) return data.length;
        const line = state.line.replace(/\r$/, "");
        if (state.kind === "trailer") {
          if (line.length === 0) this.complete(request);
          else state.line = "";
          return lf + 1;
        }
        const size = parseInt(line.split(";")[0]!.trim(), 16);
        if (!Number.isFinite(size) || size < 0) throw new Error(`bad chunk size line ${JSON.stringify(line)}`);
        request.state = size === 0 ? { kind: "trailer", line: "" } : { kind: "chunk-data", remaining: size };
        return lf + 1;
      }
      case "chunk-data": {
        const take = Math.min(state.remaining, data.length - offset);
        this.keep(request, data, offset, take);
        state.remaining -= take;
        if (state.remaining === 0) request.state = { kind: "chunk-crlf", remaining: 2 };
        return offset + take;
      }
      case "chunk-crlf": {
        const take = Math.min(state.remaining, data.length - offset);
        state.remaining -= take;
        if (state.remaining === 0) request.state = { kind: "chunk-size", line: "" };
        return offset + take;
      }
    }
  }

  private startBody(request: InFlight, head: string): void {
    const lines = head.split("\r\n");
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
    if (!match) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
    const status = Number(match[1]);
    if (status >= 100 && status < 200 && status !== 101) {
      // Interim response: the final head follows.
      request.head = Buffer.alloc(0);
      return;
    }
    request.status = status;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) request.headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    request.head = Buffer.alloc(0);
    const length = request.headers.get("content-length");
    if (request.method === "HEAD" || status === 204 || status === 304) this.complete(request);
    else if ((request.headers.get("transfer-encoding") ?? "").toLowerCase().includes("chunked")) request.state = { kind: "chunk-size", line: "" };
    else if (length !== undefined) {
      const remaining = Number(length);
      if (remaining === 0) this.complete(request);
      else request.state = { kind: "length", remaining };
    } else request.state = { kind: "until-close" };
  }

  private keep(request: InFlight, data: Buffer, offset: number, length: number): void {
    request.bodyBytes += length;
    if (!request.keepBody || length === 0) return;
    if (request.bodyBytes > MAX_KEPT_BODY) throw new Error("response body too large to keep");
    request.bodyParts.push(Buffer.from(data.subarray(offset, offset + length)));
  }

  private complete(request: InFlight): void {
    this.inFlight = undefined;
    if (request.state.kind === "until-close") this.dead = new Error("connection closed by the server");
    request.resolve({
      status: request.status,
      headers: request.headers,
      body: Buffer.concat(request.bodyParts),
      bodyBytes: request.bodyBytes,
    });
  }

  private onEnd(): void {
    const request = this.inFlight;
    if (request?.state.kind === "until-close") this.complete(request);
    this.fail(new Error("connection closed by the server"));
  }

  private fail(error: Error): void {
    this.dead ??= error;
    const request = this.inFlight;
    this.inFlight = undefined;
    request?.reject(error);
    if (!this.socket.destroyed) this.socket.destroy();
  }
}

/** One request on a fresh connection, closed afterwards. */
export async function requestOnce(socketPath: string, options: RequestOptions): Promise<HttpResponse> {
  const connection = await HttpConnection.open(socketPath, Math.min(options.timeoutMs ?? 5000, 5000));
  try {
    return await connection.request(options);
  } finally {
    connection.close();
  }
}

/** Sends JSON, expects JSON (or nothing) back. */
export function jsonBody(value: unknown): { body: Buffer; headers: Record<string, string> } {
  return { body: Buffer.from(JSON.stringify(value)), headers: { "Content-Type": "application/json" } };
}
