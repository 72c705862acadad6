// A real Alertmanager (Debian's prometheus-alertmanager) as a child process,
// with webhook receivers as a DSP configures them: the operator's URL and
// its bearer token in `http_config.authorization`. Tests post alerts to its
// API, as Prometheus does, and Alertmanager sends its own payload on.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { freePort } from "../testbed/process.ts";

export interface WebhookReceiver {
  /** Alerts whose `receiver` label is this name go here. */
  readonly name: string;
  readonly url: string;
  /** Sent as `Authorization: Bearer <token>`; none when undefined. */
  readonly token: string | undefined;
}

export interface AlertmanagerServer {
  readonly url: string;
  readonly log: string;
  /** Posts alerts to /api/v2/alerts, as Prometheus does. */
  fire(
    alerts: readonly { labels: Record<string, string>; annotations?: Record<string, string> }[],
  ): Promise<void>;
  stop(): Promise<void>;
}

export async function startAlertmanager(options: {
  readonly binary: string;
  readonly receivers: readonly WebhookReceiver[];
}): Promise<AlertmanagerServer> {
  const dir = await mkdtemp(join(tmpdir(), "dsc-alertmanager-"));
  const configFile = join(dir, "alertmanager.yaml");
  const [first] = options.receivers;
  if (!first) throw new Error("an Alertmanager needs a receiver");
  await writeFile(
    configFile,
    stringify({
      route: {
        receiver: first.name,
        group_by: ["alertname", "receiver"],
        group_wait: "0s",
        group_interval: "1s",
        repeat_interval: "1h",
        routes: options.receivers.map((r) => ({ receiver: r.name, matchers: [`receiver="${r.name}"`] })),
      },
      receivers: options.receivers.map((r) => ({
        name: r.name,
        webhook_configs: [
          {
            url: r.url,
            send_resolved: false,
            max_alerts: 0,
            http_config:
              r.token === undefined ? {} : { authorization: { type: "Bearer", credentials: r.token } },
          },
        ],
      })),
    }),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${String(port)}`;
  const log = join(dir, "alertmanager.log");
  const fd = openSync(log, "a");
  const child: ChildProcess = spawn(
    options.binary,
    [
      `--config.file=${configFile}`,
      `--storage.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${String(port)}`,
      // One Alertmanager, no gossip: nothing listens beyond the web port.
      "--cluster.listen-address=",
      "--log.level=debug",
    ],
    { stdio: ["ignore", fd, fd] },
  );
  closeSync(fd);
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killed = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(killed);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const tail = (): string => readFileSync(log, "utf8").split("\n").slice(-15).join("\n");
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) {
      const text = tail();
      await stop();
      throw new Error(`alertmanager exited at start:\n${text}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (i > 300) {
      const text = tail();
      await stop();
      throw new Error(`alertmanager was not ready in 30 s:\n${text}`);
    }
    await sleep(100);
  }
  return {
    url,
    log,
    fire: async (alerts) => {
      const res = await fetch(`${url}/api/v2/alerts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(
          alerts.map((a) => ({
            labels: a.labels,
            annotations: a.annotations ?? {},
            startsAt: new Date().toISOString(),
          })),
        ),
      });
      if (!res.ok)
        throw new Error(`alertmanager refused the alerts: ${String(res.status)} ${await res.text()}`);
    },
    stop,
  };
}
