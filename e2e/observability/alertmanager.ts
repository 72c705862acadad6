// A real Alertmanager (Debian's prometheus-alertmanager) as a child process,
// with webhook receivers as a DSP configures them: the operator's URL and
// its bearer token in `http_config.authorization`. Tests post alerts to its
// API, as Prometheus does, and Alertmanager sends its own payload on.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { startServerProcess } from "./server-process.ts";

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
  const { url, log, stop } = await startServerProcess({
    name: "alertmanager",
    binary: options.binary,
    dir,
    args: (listen) => [
      `--config.file=${configFile}`,
      `--storage.path=${join(dir, "data")}`,
      `--web.listen-address=${listen}`,
      // One Alertmanager, no gossip: nothing listens beyond the web port.
      "--cluster.listen-address=",
      "--log.level=debug",
    ],
  });
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
