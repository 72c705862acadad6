// A Prometheus-family server (Prometheus, Alertmanager) as a child process of
// a test: on a free loopback port, logging to a file in its own directory,
// ready once GET /-/ready answers 200. Stopping it ends the process and
// removes the directory.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../testbed/process.ts";

export interface ServerProcess {
  readonly url: string;
  readonly log: string;
  readonly stop: () => Promise<void>;
}

export async function startServerProcess(options: {
  /** For messages and the log's name, e.g. "prometheus". */
  readonly name: string;
  readonly binary: string;
  /** A directory of the server's own, removed on stop. */
  readonly dir: string;
  /** The command line, given the host:port to listen on. */
  readonly args: (listen: string) => readonly string[];
}): Promise<ServerProcess> {
  const port = await freePort();
  const listen = `127.0.0.1:${String(port)}`;
  const url = `http://${listen}`;
  const log = join(options.dir, `${options.name}.log`);
  const fd = openSync(log, "a");
  const child: ChildProcess = spawn(options.binary, [...options.args(listen)], { stdio: ["ignore", fd, fd] });
  closeSync(fd); // the child holds its own copy
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killed = setTimeout(() => {
        child.kill("SIGKILL");
      }, 10_000);
      await exited;
      clearTimeout(killed);
    }
    await rm(options.dir, { recursive: true, force: true });
  };
  const tail = (): string => readFileSync(log, "utf8").split("\n").slice(-15).join("\n");
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) {
      const text = tail();
      await stop();
      throw new Error(`${options.name} exited at start:\n${text}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (i > 300) {
      const text = tail();
      await stop();
      throw new Error(`${options.name} was not ready in 30 s:\n${text}`);
    }
    await sleep(100);
  }
  return { url, log, stop };
}
