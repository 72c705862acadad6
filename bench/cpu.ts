// Where this machine's CPU goes during a stretch of a bench, read from /proc
// (Linux only; elsewhere nothing is printed). The test bed runs the three
// regions' API servers, etcds and operators, the chain and the bench on the
// same cores: a latency ratio means little without knowing whether the cores
// were the queue, and which process kept them busy.
import { readdirSync, readFileSync } from "node:fs";

/** Each process's CPU milliseconds so far (by pid and start time), and the machine's ticks. */
export interface CpuSample {
  readonly processes: ReadonlyMap<string, { readonly kind: string; readonly ms: number }>;
  readonly busyTicks: number;
  readonly allTicks: number;
  /** The cpuN lines of /proc/stat: the cores the ticks are of. */
  readonly cores: number;
}

/** Linux's USER_HZ: /proc counts CPU time in hundredths of a second on every architecture it runs the bench on. */
const TICK_MS = 10;

/** What a process is, for the table: the operators by their entry point, the rest by command name. */
function kindOf(pid: string, comm: string): string {
  if (Number(pid) === process.pid) return "the bench itself";
  if (comm === "node" || comm === "MainThread") {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes("operator/main.ts") ? "operators" : "other node processes";
  }
  if (comm.startsWith("kworker") || comm.startsWith("ksoftirqd") || comm.startsWith("kdamond"))
    return "kernel threads";
  return comm;
}

/** A reading of every process's CPU time so far; undefined where there is no /proc. */
export function sampleCpu(): CpuSample | undefined {
  let pids: string[];
  let stat: string;
  try {
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
    stat = readFileSync("/proc/stat", "utf8");
  } catch {
    return undefined;
  }
  const processes = new Map<string, { kind: string; ms: number }>();
  for (const pid of pids) {
    try {
      const line = readFileSync(`/proc/${pid}/stat`, "utf8");
      // The command name may hold spaces and parentheses: the fields start after the last ")".
      const comm = line.slice(line.indexOf("(") + 1, line.lastIndexOf(")"));
      const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
      const ms = (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime
      // A pid may be reused: with its start time it names one process.
      processes.set(`${pid} ${fields[19] ?? ""}`, { kind: kindOf(pid, comm), ms });
    } catch {
      // gone since the directory was read
    }
  }
  const lines = stat.split("\n");
  // cpu user nice system idle iowait irq softirq steal ...
  const ticks = (lines[0] ?? "").trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  const all = ticks.reduce((a, b) => a + b, 0);
  const cores = lines.filter((l) => /^cpu\d+ /.test(l)).length;
  return { processes, busyTicks: all - idle, allTicks: all, cores };
}

/** Adds what happened between `before` and `after` to `into` (per kind, ms; and the machine's ticks). */
export function addCpu(into: CpuTotals, before: CpuSample | undefined, after: CpuSample | undefined): void {
  if (!before || !after) return;
  // Process by process: one started in between counts whole; what one that exited in between
  // spent is not counted (its last reading is gone), so a kind may be short, never negative.
  for (const [key, { kind, ms }] of after.processes) {
    const spent = ms - (before.processes.get(key)?.ms ?? 0);
    if (spent > 0) into.byKind.set(kind, (into.byKind.get(kind) ?? 0) + spent);
  }
  into.busyTicks += after.busyTicks - before.busyTicks;
  into.allTicks += after.allTicks - before.allTicks;
  into.cores = after.cores;
}

export interface CpuTotals {
  readonly byKind: Map<string, number>;
  busyTicks: number;
  allTicks: number;
  cores: number;
}

export const cpuTotals = (): CpuTotals => ({ byKind: new Map(), busyTicks: 0, allTicks: 0, cores: 0 });

/** Table rows: the cores kept busy, then CPU ms per round by kind of process, most first. */
export function cpuRows(totals: CpuTotals, rounds: number): string[][] {
  if (totals.allTicks === 0 || rounds === 0) return [];
  const cores = totals.cores;
  // Steal time counts as busy: a core the hypervisor gave to another guest is no core of ours.
  const busy = (totals.busyTicks / totals.allTicks) * cores;
  const all = [...totals.byKind].sort((a, b) => b[1] - a[1]);
  const total = all.reduce((a, [, ms]) => a + ms, 0);
  // Kinds under half a millisecond a round are one row together, so that the total is every row's.
  const shown = all.filter(([, ms]) => ms / rounds >= 0.5);
  const small = total - shown.reduce((a, [, ms]) => a + ms, 0);
  const rows = small > 0 ? [...shown, ["others, under 0.5 ms each", small] as const] : shown;
  return [
    ["process", "CPU per round", "share"],
    ...rows.map(([kind, ms]) => [
      kind,
      `${(ms / rounds).toFixed(1)} ms`,
      `${((100 * ms) / total).toFixed(0)}%`,
    ]),
    ["all of them", `${(total / rounds).toFixed(1)} ms`, ""],
    ["cores busy", `${busy.toFixed(2)} of ${String(cores)}`, ""],
  ];
}
