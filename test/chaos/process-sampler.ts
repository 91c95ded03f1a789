/**
 * Memory and open handles of every process of a run, sampled from /proc (Linux): resident memory
 * (VmRSS) and open file descriptors (sockets, files, pipes). A process that was restarted gets a new
 * pid, and its growth is measured from its own first sample after the warm-up.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface ProcessSample {
  atMs: number;
  name: string;
  pid: number;
  rssKb: number;
  fds: number;
}

export interface ProcessGrowth {
  name: string;
  pid: number;
  samples: number;
  /** Of the process's life that the sampling saw (after the warm-up). */
  spanMs: number;
  firstRssKb: number;
  lastRssKb: number;
  maxRssKb: number;
  firstFds: number;
  lastFds: number;
  maxFds: number;
  /**
   * The process's life in windows of `bucketMs` (from its first sample): the median resident memory
   * and the most open descriptors of each, so a slow climb shows apart from one moment's peak.
   */
  windows: { fromS: number; medianRssKb: number; maxFds: number }[];
}

/** VmRSS in kB and the number of open descriptors of `pid`, or undefined when it is gone. */
export function readProcess(pid: number): { rssKb: number; fds: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rss = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    return { rssKb: rss ? Number(rss[1]) : 0, fds };
  } catch {
    return undefined;
  }
}

/** The direct children of `pid` (PostgreSQL's backends and helpers of its postmaster). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export class ProcessSampler {
  readonly samples: ProcessSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();

  /** `processes()`: the named processes of the moment (a name may map to no pid while it is down). */
  constructor(private readonly processes: () => Record<string, number | undefined>) {}

  start(everyMs: number): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.sample();
  }

  sample(): void {
    const atMs = Date.now() - this.started;
    for (const [name, pid] of Object.entries(this.processes())) {
      if (pid === undefined) continue;
      const read = readProcess(pid);
      if (read) this.samples.push({ atMs, name, pid, ...read });
    }
  }

  /** Growth per process (name and pid), from its first sample at or after `warmupMs`; windows of `bucketMs` (default 10 min). */
  growth(warmupMs: number, bucketMs = 600_000): ProcessGrowth[] {
    const byProcess = new Map<string, ProcessSample[]>();
    for (const s of this.samples) {
      if (s.atMs < warmupMs) continue;
      const key = `${s.name}:${s.pid}`;
      byProcess.set(key, [...(byProcess.get(key) ?? []), s]);
    }
    return [...byProcess.values()].map((list) => {
      const first = list[0]!;
      const last = list[list.length - 1]!;
      return {
        name: first.name,
        pid: first.pid,
        samples: list.length,
        spanMs: last.atMs - first.atMs,
        firstRssKb: first.rssKb,
        lastRssKb: last.rssKb,
        maxRssKb: Math.max(...list.map((s) => s.rssKb)),
        firstFds: first.fds,
        lastFds: last.fds,
        maxFds: Math.max(...list.map((s) => s.fds)),
        windows: windowsOf(list, bucketMs),
      };
    });
  }
}

function windowsOf(list: readonly ProcessSample[], bucketMs: number): ProcessGrowth["windows"] {
  const from = list[0]!.atMs;
  const buckets = new Map<number, ProcessSample[]>();
  for (const s of list) {
    const k = Math.floor((s.atMs - from) / bucketMs);
    buckets.set(k, [...(buckets.get(k) ?? []), s]);
  }
  return [...buckets].map(([k, samples]) => {
    const rss = samples.map((s) => s.rssKb).sort((a, b) => a - b);
    return { fromS: Math.round((k * bucketMs) / 1000), medianRssKb: rss[Math.floor(rss.length / 2)]!, maxFds: Math.max(...samples.map((s) => s.fds)) };
  });
}
