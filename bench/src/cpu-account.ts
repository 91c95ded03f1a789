/**
 * CPU time spent by each part of a running system over a measured window, from /proc (Linux): the
 * services by pid, nats-server and PostgreSQL by process name (every process of that name on the
 * machine: run on a quiet machine), and this process (the load generator and the simulators).
 *
 * On a machine whose cores are all busy, rates and latencies say little about why; CPU time per
 * order says where the machine's cores went, and how many orders a second they can carry at most.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { ServiceName } from "@pinflow/test/support/paths";
import type { TestSystem } from "@pinflow/test/support/system";

/** Clock ticks a second of /proc/<pid>/stat's times (USER_HZ: 100 on every Linux this runs on). */
const TICKS_PER_SECOND = 100;

export interface CpuPart {
  name: string;
  /** Pids of the part, read at each mark (processes matched by name may come and go). */
  pids: () => number[];
}

type Marks = Map<string, Map<number, number>>;

/** utime + stime of one process in ms, or undefined when it is gone. */
function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command (which may hold spaces) start after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Pids of every process whose command name (`/proc/<pid>/comm`) is `comm`. */
export function pidsNamed(comm: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === comm) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export class CpuAccount {
  private start: Marks | undefined;
  private selfStart: NodeJS.CpuUsage | undefined;

  constructor(private readonly parts: readonly CpuPart[]) {}

  private mark(): Marks {
    const marks: Marks = new Map();
    for (const part of this.parts) {
      const byPid = new Map<number, number>();
      for (const pid of part.pids()) {
        const ms = processCpuMs(pid);
        if (ms !== undefined) byPid.set(pid, ms);
      }
      marks.set(part.name, byPid);
    }
    return marks;
  }

  begin(): void {
    this.start = this.mark();
    this.selfStart = process.cpuUsage();
  }

  /** CPU ms of each part since `begin` (a process started since counts from 0), and of this process. */
  end(): Map<string, number> {
    if (this.start === undefined || this.selfStart === undefined) throw new Error("CpuAccount.end before begin");
    const now = this.mark();
    const out = new Map<string, number>();
    for (const part of this.parts) {
      const before = this.start.get(part.name)!;
      let sum = 0;
      for (const [pid, ms] of now.get(part.name)!) sum += ms - (before.get(pid) ?? 0);
      out.set(part.name, sum);
    }
    const self = process.cpuUsage(this.selfStart);
    out.set("bench process (load generator, simulators)", (self.user + self.system) / 1000);
    return out;
  }
}

/** The broker and the database, by process name: parts of every measured system. */
export const BROKER_AND_DATABASE: readonly CpuPart[] = [
  { name: "nats-server", pids: () => pidsNamed("nats-server") },
  { name: "postgres", pids: () => pidsNamed("postgres") },
];

/** CPU ms per unit (an order, a check) of each part, and of all of them. */
export function cpuPerUnit(used: Map<string, number>, units: number): { parts: [string, number][]; total: number } {
  const parts = [...used].map(([name, ms]): [string, number] => [name, ms / units]);
  return { parts, total: parts.reduce((sum, [, ms]) => sum + ms, 0) };
}

/** A markdown table: CPU ms per order of each part, their sum, and the rate the machine's cores could carry at most. */
export function cpuPerOrderTable(used: Map<string, number>, orders: number, cores: number): string {
  const { parts, total } = cpuPerUnit(used, orders);
  const rows = parts.map(([name, ms]) => `| ${name} | ${ms.toFixed(2)} |`);
  return [
    "| part | CPU ms per order |",
    "| --- | ---: |",
    ...rows,
    `| **all** | **${total.toFixed(2)}** |`,
    "",
    `At ${total.toFixed(1)} CPU ms an order, ${cores} cores carry at most ${Math.floor((cores * 1000) / total)} orders/s with every core busy.`,
  ].join("\n");
}

/** The parts of a running TestSystem whose CPU time a benchmark reports. */
export function systemCpu(system: TestSystem): CpuAccount {
  const pidsOf = (name: ServiceName) => () => system.processes(name).flatMap((p) => (p.pid === undefined ? [] : [p.pid]));
  return new CpuAccount([
    { name: "orders", pids: pidsOf("orders") },
    { name: "dispatcher", pids: pidsOf("dispatcher") },
    { name: "status-poller", pids: pidsOf("status-poller") },
    ...BROKER_AND_DATABASE,
  ]);
}
