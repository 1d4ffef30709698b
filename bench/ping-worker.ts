/**
 * Load generator for the keep-alive `GET /_ping` workload, run in a worker
 * thread so that the client has an event loop of its own.
 *
 * Each connection has exactly one request in flight (a closed loop, like a
 * real Docker client): write the request, wait for the whole response, write
 * the next one. Requests are one pre-built buffer; responses are parsed only
 * as far as the status and Content-Length. Throughput counts the responses
 * that complete inside the measurement window (after a warm-up); latency is
 * recorded for those.
 */
import { connect, type Socket } from "node:net";
import { parentPort } from "node:worker_threads";

export interface PingJob {
  readonly id: number;
  readonly socketPath: string;
  readonly connections: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly requestPath: string;
}

export interface PingResult {
  readonly id: number;
  /** Responses completed inside the measurement window. */
  readonly completed: number;
  readonly windowMs: number;
  /** Latencies (ms) of those responses, unsorted. */
  readonly latenciesMs: Float64Array;
  readonly errors: number;
  readonly error?: string;
}

const HEAD_END = Buffer.from("\r\n\r\n");
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;

export function runPingJob(job: PingJob): Promise<PingResult> {
  const request = Buffer.from(`GET ${job.requestPath} HTTP/1.1\r\nHost: docker\r\n\r\n`, "latin1");
  let latencies = new Float64Array(1 << 16);
  let completed = 0;
  let errors = 0;
  const start = performance.now();
  const measureFrom = start + job.warmupMs;
  const measureTo = measureFrom + job.durationMs;
  const sockets: Socket[] = [];
  let open = job.connections;
  let firstError: string | undefined;

  return new Promise<PingResult>((resolve) => {
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      for (const socket of sockets) socket.destroy();
      const windowMs = Math.min(performance.now(), measureTo) - measureFrom;
      resolve({
        id: job.id,
        completed,
        windowMs,
        latenciesMs: latencies.slice(0, completed),
        errors,
        ...(firstError !== undefined ? { error: firstError } : {}),
      });
    };
    const watchdog = setTimeout(() => {
      firstError ??= "timed out";
      finish();
    }, job.warmupMs + job.durationMs + 10_000);

    const connectionDone = () => {
      open -= 1;
      if (open === 0) finish();
    };

    for (let i = 0; i < job.connections; i++) {
      let pending: Buffer | undefined;
      let sentAt = 0;
      let done = false;
      const stop = (message?: string) => {
        if (done) return;
        done = true;
        if (message !== undefined) {
          errors += 1;
          firstError ??= message;
        }
        connectionDone();
      };
      const onResponse = (status: number) => {
        const now = performance.now();
        if (status !== 200) errors += 1;
        if (now >= measureFrom && now <= measureTo) {
          if (completed === latencies.length) {
            const grown = new Float64Array(latencies.length * 2);
            grown.set(latencies);
            latencies = grown;
          }
          latencies[completed++] = now - sentAt;
        }
        if (now >= measureTo) {
          stop();
          return;
        }
        sentAt = performance.now();
        socket.write(request);
      };
      const socket = connect({
        path: job.socketPath,
        onread: {
          buffer: Buffer.allocUnsafe(64 * 1024),
          callback: (bytes: number, buffer: Uint8Array) => {
            if (done) return true;
            let data = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
            if (pending) data = Buffer.concat([pending, data]);
            const headEnd = data.indexOf(HEAD_END);
            if (headEnd === -1) {
              pending = Buffer.from(data);
              return true;
            }
            const head = data.toString("latin1", 0, headEnd + 2);
            const length = CONTENT_LENGTH.exec(head);
            if (!length) {
              stop("response without Content-Length");
              return true;
            }
            const total = headEnd + 4 + Number(length[1]);
            if (data.length < total) {
              pending = Buffer.from(data);
              return true;
            }
            if (data.length > total) {
              stop("more bytes than one response");
              return true;
            }
            pending = undefined;
            onResponse(Number(head.slice(9, 12)));
            return true;
          },
        },
      });
      sockets.push(socket);
      socket.setNoDelay(true);
      socket.once("connect", () => {
        sentAt = performance.now();
        socket.write(request);
      });
      socket.on("error", (error: NodeJS.ErrnoException) => stop(error.code ?? error.message));
      socket.on("close", () => stop(performance.now() < measureTo ? "connection closed early" : undefined));
    }
  });
}

if (parentPort) {
  const port = parentPort;
  port.on("message", (job: PingJob) => {
    void runPingJob(job).then((result) => port.postMessage(result, [result.latenciesMs.buffer as ArrayBuffer]));
  });
  port.postMessage({ ready: true });
}
