// Is someone else using this test bed? The demo installs its own Federations
// and operators, which would pull the rug from under an end-to-end run (or a
// second demo) on the same test bed, so it looks first: processes of this
// user that run the operator, vitest or the demo against the same directory.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { resolve } from "node:path";

export interface OtherUser {
  readonly pid: number;
  readonly what: string;
}

interface ProcessInfo {
  readonly pid: number;
  readonly cmdline: string[];
  readonly env: Record<string, string>;
  readonly cwd: string;
}

function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const cmdline = readFileSync(`/proc/${String(pid)}/cmdline`, "utf8")
      .split("\0")
      .filter(Boolean);
    const env = Object.fromEntries(
      readFileSync(`/proc/${String(pid)}/environ`, "utf8")
        .split("\0")
        .filter(Boolean)
        .map((kv) => {
          const i = kv.indexOf("=");
          return [kv.slice(0, i), kv.slice(i + 1)];
        }),
    );
    return { pid, cmdline, env, cwd: readlinkSync(`/proc/${String(pid)}/cwd`) };
  } catch {
    return undefined; // gone, or not ours to read
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, "utf8");
    // pid (comm) state ppid ...: comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** This process and its ancestors: a vitest that runs the demo is not "someone else". */
function selfAndAncestors(): Set<number> {
  const pids = new Set<number>();
  for (let pid: number | undefined = process.pid; pid !== undefined && !pids.has(pid); pid = parentOf(pid))
    pids.add(pid);
  return pids;
}

/** What a process is doing with the test bed at `root`, if anything. */
export function classify(p: ProcessInfo, root: string): string | undefined {
  const args = p.cmdline.join(" ");
  const under = (path: string | undefined): boolean =>
    path !== undefined && (path === root || path.startsWith(`${root}/`));
  // The test bed a node process would use: DSC_TESTBED_DIR, or .testbed in its checkout.
  const itsRoot = p.env.DSC_TESTBED_DIR ? resolve(p.cwd, p.env.DSC_TESTBED_DIR) : resolve(p.cwd, ".testbed");
  if (/operator\/main\.ts\b|dist\/operator\/main\.js\b/.test(args) && under(p.env.KUBECONFIG))
    return "an operator";
  if (/\bvitest\b/.test(args) && itsRoot === root) return "a vitest run (the end-to-end tests)";
  if (/e2e\/demo\/run\.ts\b/.test(args) && itsRoot === root) return "another demo";
  return undefined;
}

/** Processes other than this one (and its parents) using the test bed at `root`. */
export function otherUsers(root: string): OtherUser[] {
  const mine = selfAndAncestors();
  const absolute = resolve(root);
  let pids: number[];
  try {
    pids = readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return []; // no /proc: nothing to tell
  }
  const found: OtherUser[] = [];
  for (const pid of pids) {
    if (mine.has(pid)) continue;
    const p = readProcess(pid);
    const what = p && classify(p, absolute);
    if (what) found.push({ pid, what });
  }
  return found;
}
