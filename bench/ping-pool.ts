/**
 * A few persistent worker threads running ping-worker.ts: started once, given
 * one job per measurement, so no measurement pays for starting a thread.
 */
import { Worker } from "node:worker_threads";
import type { PingJob, PingResult } from "./ping-worker.js";
import { quantileSorted } from "./stats.js";

export interface PingMeasurement {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly errors: number;
  readonly error?: string;
}

export class PingPool {
  private nextId = 0;

  private constructor(private readonly workers: Worker[]) {}

  static async start(count: number): Promise<PingPool> {
    // A worker thread does not inherit tsx's loader: register it there, then load the TypeScript worker.
    const tsx = import.meta.resolve("tsx/esm/api");
    const script = new URL("./ping-worker.ts", import.meta.url).href;
    const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(script)}); })`;
    const workers: Worker[] = [];
    for (let i = 0; i < count; i++) {
      const worker = new Worker(bootstrap, { eval: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("ping worker did not start within 20 s")), 20_000);
        worker.once("message", (message: unknown) => {
          clearTimeout(timer);
          if ((message as { ready?: boolean }).ready === true) resolve();
          else reject(new Error("ping worker sent something before it was ready"));
        });
        worker.once("error", (error) => {
          clearTimeout(timer);
          reject(error);
        });
      });
      worker.unref();
      workers.push(worker);
    }
    return new PingPool(workers);
  }

  /** Spreads `connections` over the workers and merges their results. */
  async measure(socketPath: string, connections: number, warmupMs: number, durationMs: number): Promise<PingMeasurement> {
    const used = this.workers.slice(0, Math.max(1, Math.min(this.workers.length, connections)));
    const jobs = used.map((worker, index) => {
      const share = Math.floor(connections / used.length) + (index < connections % used.length ? 1 : 0);
      const job: PingJob = { id: ++this.nextId, socketPath, connections: share, warmupMs, durationMs, requestPath: "/_ping" };
      return this.run(worker, job);
    });
    const results = await Promise.all(jobs);
    let requests = 0;
    let errors = 0;
    let rate = 0;
    let firstError: string | undefined;
    for (const result of results) {
      requests += result.completed;
      errors += result.errors;
      rate += result.windowMs > 0 ? (result.completed * 1000) / result.windowMs : 0;
      firstError ??= result.error;
    }
    const all = new Float64Array(requests);
    let offset = 0;
    for (const result of results) {
      all.set(result.latenciesMs, offset);
      offset += result.latenciesMs.length;
    }
    all.sort();
    return {
      requestsPerSecond: rate,
      p50Ms: quantileSorted(all, 0.5),
      p99Ms: quantileSorted(all, 0.99),
      requests,
      errors,
      ...(firstError !== undefined ? { error: firstError } : {}),
    };
  }

  private run(worker: Worker, job: PingJob): Promise<PingResult> {
    return new Promise<PingResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error("ping worker did not answer"));
      }, job.warmupMs + job.durationMs + 20_000);
      const onMessage = (result: PingResult) => {
        if (result.id !== job.id) return;
        cleanup();
        resolve(result);
      };
      const onError = (error: Error) => {
        cleanup();
        reject(error);
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`ping worker exited (${code})`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
      worker.postMessage(job);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
