// A real Prometheus (Debian's package) as a child process: a generated
// configuration with static targets, storage in a temporary directory, the
// HTTP API on a free loopback port. Tests query it and read its alerts.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { startServerProcess } from "./server-process.ts";

export interface ScrapeTarget {
  /** host:port of a /metrics endpoint. */
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface Alert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: "pending" | "firing";
  readonly value: string;
}

export interface PrometheusServer {
  readonly url: string;
  readonly log: string;
  /** An instant query; throws with Prometheus' error for a bad one. */
  query(expr: string): Promise<Sample[]>;
  alerts(): Promise<Alert[]>;
  stop(): Promise<void>;
}

export async function startPrometheus(options: {
  readonly binary: string;
  readonly job: string;
  readonly targets: readonly ScrapeTarget[];
  /** Rule file text (YAML). */
  readonly rules: string;
  readonly scrapeInterval?: string;
  readonly evaluationInterval?: string;
}): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), "dsc-prometheus-"));
  const rulesFile = join(dir, "rules.yaml");
  const configFile = join(dir, "prometheus.yaml");
  await writeFile(rulesFile, options.rules);
  await writeFile(
    configFile,
    stringify({
      global: {
        scrape_interval: options.scrapeInterval ?? "1s",
        scrape_timeout: options.scrapeInterval ?? "1s",
        evaluation_interval: options.evaluationInterval ?? "1s",
      },
      rule_files: [rulesFile],
      scrape_configs: [
        {
          job_name: options.job,
          static_configs: options.targets.map((t) => ({ targets: [t.address], labels: t.labels })),
        },
      ],
    }),
  );
  const { url, log, stop } = await startServerProcess({
    name: "prometheus",
    binary: options.binary,
    dir,
    args: (listen) => [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=${listen}`,
      "--log.level=warn",
    ],
  });

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data?: T; error?: string; errorType?: string };
    if (body.status !== "success" || body.data === undefined)
      throw new Error(`prometheus ${path}: ${body.errorType ?? res.status}: ${body.error ?? "no data"}`);
    return body.data;
  };
  return {
    url,
    log,
    query: async (expr) => {
      const data = await api<{ resultType: string; result: Sample[] }>(
        `/api/v1/query?query=${encodeURIComponent(expr)}`,
      );
      return data.resultType === "vector" ? data.result : [];
    },
    alerts: async () => (await api<{ alerts: Alert[] }>("/api/v1/alerts")).alerts,
    stop,
  };
}
