/**
 * What the benchmark reads about the relay processes from /proc: memory
 * (VmRSS, VmHWM, with the peak reset between workloads) and CPU time.
 */
import { readFileSync, writeFileSync } from "node:fs";

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux the benchmark targets

export interface MemoryStatus {
  readonly rssBytes: number;
  /** Peak RSS since start, or since the last resetPeakRss. */
  readonly hwmBytes: number;
}

export function memoryStatus(pid: number): MemoryStatus | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? Number.NaN) * 1024;
  return { rssBytes: kb("VmRSS"), hwmBytes: kb("VmHWM") };
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0, own processes); false when not allowed. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** User + system CPU time of a process (all its threads), in milliseconds. */
export function cpuTimeMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/**
 * Samples a process's RSS every `intervalMs` while a measurement runs: the
 * fallback when VmHWM cannot be reset, and a check on it when it can.
 */
export class RssSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly resetWorked: boolean;

  constructor(
    private readonly pid: number,
    intervalMs = 100,
  ) {
    this.resetWorked = resetPeakRss(pid);
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const status = memoryStatus(this.pid);
    if (status && status.rssBytes > this.peak) this.peak = status.rssBytes;
  }

  /** Peak RSS over the sampling period, in bytes. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    const status = memoryStatus(this.pid);
    return this.resetWorked && status ? Math.max(this.peak, status.hwmBytes) : this.peak;
  }
}

/** Cumulative CPU time of the whole machine (all cores), in clock ticks: busy and total. */
export function hostCpuTicks(): { busy: number; total: number } {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = values.reduce((sum, value) => sum + value, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}
