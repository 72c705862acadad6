// Supervision of the test bed's long-lived processes. Each runs detached in a
// process group of its own, logs to a file under .testbed/, and is recorded by
// pid so that `down` can stop exactly what `up` started, even from another
// shell and after the starting process has exited.
import { spawn } from "node:child_process";
import {
  appendFileSync,
  mkdirSync,
  openSync,
  closeSync,
  readFileSync,
  writeFileSync,
  renameSync,
  existsSync,
} from "node:fs";
import { createConnection, createServer } from "node:net";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface ProcessRecord {
  readonly name: string;
  readonly pid: number;
  readonly log: string;
  readonly command: readonly string[];
}

/** Raised when a component does not come up; names it and points at its log. */
export class ComponentError extends Error {
  readonly component: string;
  readonly log: string;
  constructor(component: string, log: string, reason: string) {
    super(`${component} failed to start: ${reason}\n  log: ${log}\n${tail(log)}`);
    this.name = "ComponentError";
    this.component = component;
    this.log = log;
  }
}

function tail(file: string, lines = 15): string {
  if (!existsSync(file)) return "  (no log written)";
  const text = readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines);
  return text.map((l) => `  | ${l}`).join("\n");
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Starts `command` detached, with stdout and stderr appended to `log`. */
export function startDetached(
  name: string,
  command: readonly string[],
  log: string,
  options: { cwd?: string; env?: NodeJS.ProcessEnv; argv0?: string } = {},
): ProcessRecord {
  mkdirSync(dirname(log), { recursive: true });
  const fd = openSync(log, "a");
  const [file, ...args] = command;
  if (file === undefined) throw new Error(`${name}: empty command`);
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    argv0: options.argv0,
    detached: true,
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  // A failed spawn is reported as an 'error' event; without a listener it would
  // crash the test bed instead of naming the component.
  child.once("error", (err) => {
    appendFileSync(log, `spawn failed: ${err.message}\n`);
  });
  if (child.pid === undefined) throw new ComponentError(name, log, `could not spawn ${file}`);
  child.unref();
  return { name, pid: child.pid, log, command };
}

/** Stops a process group: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(record: ProcessRecord, graceMs = 5000): Promise<void> {
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-record.pid, sig);
    } catch {
      try {
        process.kill(record.pid, sig);
      } catch {
        // already gone
      }
    }
  };
  if (!isAlive(record.pid)) return;
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isAlive(record.pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(record.pid)) signal("SIGKILL");
  while (isAlive(record.pid)) await sleep(20);
}

/**
 * Polls `probe` until it resolves true. Fails early, with the log, if any of
 * the processes it depends on dies; fails with the last probe error after
 * `timeoutMs`. The first record names the component in errors.
 */
export async function waitUntil(
  records: ProcessRecord | readonly [ProcessRecord, ...ProcessRecord[]],
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const all: readonly ProcessRecord[] = "pid" in records ? [records] : records;
  const [record] = all as [ProcessRecord];
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  let delay = 20;
  while (Date.now() < deadline) {
    const dead = all.find((r) => !isAlive(r.pid));
    if (dead) throw new ComponentError(dead.name, dead.log, `exited before ${record.name} was ${what}`);
    try {
      if (await probe()) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 250);
  }
  throw new ComponentError(record.name, record.log, `not ${what} after ${timeoutMs} ms (${last})`);
}

export function portOpen(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      resolve(false);
    });
  });
}

/** Writes JSON atomically (temp file + rename) so readers never see half a file. */
export function writeJsonAtomic(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${String(process.pid)}.${Date.now().toString(36)}.tmp`);
  writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  renameSync(tmp, file);
}

/** Parses a JSON file the test bed wrote itself; undefined if there is none. */
export function readJson(file: string): unknown {
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8"));
}

/** A TCP port free on loopback right now (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === "object" && address) resolve(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}
