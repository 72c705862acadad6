// The chart's observability files (alert rules, their promtool tests, the
// Grafana dashboard, the runbooks) as the tests read them, and the Prometheus
// tools (Debian's `prometheus` package) that check them.
import { accessSync, constants, readFileSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { parse, stringify } from "yaml";

export const FILES = resolve(import.meta.dirname, "../../charts/dsc-operator/files");
export const RULES_FILE = join(FILES, "prometheus-rules.yaml");
export const RULES_TEST_FILE = join(FILES, "prometheus-rules.test.yaml");
export const DASHBOARD_FILE = join(FILES, "dashboard.json");
export const RUNBOOKS_FILE = join(FILES, "RUNBOOKS.md");

export const RUNBOOK_BASE =
  "https://github.com/dsc-federation/dsc-operator/blob/main/charts/dsc-operator/files/RUNBOOKS.md#runbook-";

// ---- tools ----

export const inCi = (): boolean => process.env.CI === "true" || process.env.CI === "1";

/**
 * The tool's path: $PROMTOOL, $PROMETHEUS or $PROMETHEUS_ALERTMANAGER when set (a binary elsewhere),
 * else the first on PATH or in /usr/bin (where Debian puts it); undefined
 * when there is none, or the one named is not an executable.
 */
type Tool = "promtool" | "prometheus" | "prometheus-alertmanager";

const envName = (name: Tool): string => name.toUpperCase().replace(/-/g, "_");

/** The Debian package each tool comes with. */
const PACKAGE: Readonly<Record<Tool, string>> = {
  promtool: "prometheus",
  prometheus: "prometheus",
  "prometheus-alertmanager": "prometheus-alertmanager",
};

export function findTool(name: Tool): string | undefined {
  const named = process.env[envName(name)];
  const candidates = named
    ? [named]
    : [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), "/usr/bin", "/usr/local/bin"].map(
        (dir) => join(dir, name),
      );
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export const installHint = (name: Tool): string => {
  const named = process.env[envName(name)];
  return (
    (named ? `${envName(name)}=${named} is not an executable.` : `${name} is not installed.`) +
    ` It comes with Debian's ${PACKAGE[name]} package: \`apt-get update && apt-get install -y ${PACKAGE[name]}\`` +
    " (only the binaries are used; the service need not run)."
  );
};

// ---- alert rules ----

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export interface RuleFile {
  readonly groups: { readonly name: string; readonly rules: AlertRule[] }[];
}

export function readRules(): RuleFile {
  return parse(readFileSync(RULES_FILE, "utf8")) as RuleFile;
}

export const alertRules = (rules: RuleFile = readRules()): AlertRule[] =>
  rules.groups.flatMap((g) => g.rules);

/**
 * The same rules at a compressed time scale, for an end-to-end run that
 * cannot wait minutes: every `for` becomes `forDuration`, and every range
 * selector (`[5m]`, `[10m]`) and `offset` becomes `range`. The expressions
 * are otherwise unchanged, so what fires is what would fire in production,
 * sooner.
 */
export function compressedRules(forDuration: string, range: string): string {
  const rules = readRules();
  for (const rule of alertRules(rules)) {
    if (rule.for !== undefined) rule.for = forDuration;
    (rule as { expr: string }).expr = rule.expr
      .replace(/\[\d+[smh]\]/g, `[${range}]`)
      .replace(/\boffset \d+[smh]\b/g, `offset ${range}`);
  }
  return stringify(rules);
}

// ---- dashboard ----

interface Target {
  readonly refId?: string;
  readonly expr?: string;
  readonly datasource?: { readonly uid?: string };
}

export interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}

export interface Dashboard {
  readonly title: string;
  readonly uid: string;
  readonly schemaVersion: number;
  readonly panels: readonly Panel[];
  readonly templating: {
    readonly list: readonly {
      readonly name: string;
      readonly type: string;
      readonly query?: unknown;
      readonly definition?: string;
    }[];
  };
}

export function readDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as Dashboard;
}

/** Every panel, including those inside collapsed rows. */
export function panelsOf(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export interface PanelQuery {
  readonly panel: Panel;
  readonly refId: string;
  readonly expr: string;
}

export function panelQueries(dashboard: Dashboard): PanelQuery[] {
  return panelsOf(dashboard)
    .filter((p) => p.type !== "row")
    .flatMap((panel) =>
      (panel.targets ?? []).map((t) => ({ panel, refId: t.refId ?? "?", expr: t.expr ?? "" })),
    );
}

/**
 * A panel query as Grafana sends it: `$name`, `${name}`, `${name:format}` and
 * `[[name]]` replaced by the variables' values. An unknown variable throws,
 * so no query reaches Prometheus half expanded.
 */
export function expand(expr: string, variables: Readonly<Record<string, string>>): string {
  return expr.replace(
    /\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g,
    (match, a?: string, b?: string, c?: string) => {
      const name = a ?? b ?? c ?? "";
      const value = variables[name];
      if (value === undefined) throw new Error(`no value for the dashboard variable ${match} in ${expr}`);
      return value;
    },
  );
}
