// The chart's alert rules, their tests, the runbooks and the dashboard agree
// with each other and with the kubernetes-mixin conventions; promtool checks
// the rules, runs their tests, and parses every dashboard query. Without
// promtool these checks are skipped, visibly, except in CI, where they fail.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";
import { describe, expect, it } from "vitest";
import {
  RULES_FILE,
  RULES_TEST_FILE,
  RUNBOOK_BASE,
  RUNBOOKS_FILE,
  alertRules,
  compressedRules,
  expand,
  findTool,
  inCi,
  installHint,
  panelQueries,
  panelsOf,
  readDashboard,
  type RuleFile,
} from "./files.ts";

const run = promisify(execFile);

/** What issue 6 and SREs expect: alerts by name, and the metric families the dashboard must show. */
const REQUIRED_ALERTS = [
  "DscOperatorDown",
  "DscPeerDown",
  "DscGuardianPaused",
  "DscVerificationFailing",
  "DscChainUnavailable",
  "DscReconcileErrors",
  "DscWorkqueueBacklog",
  "DscSyncRejected",
  "DscPeerRefused",
  "DscLogDiscrepancy",
  "DscLogWitnessLag",
  "DscLogAppendFailing",
  "DscLogWarning",
  "DscLogSampleMissing",
  "DscLogAnchorOverdue",
  "DscTrustedLogInconsistent",
];
const REQUIRED_METRICS = [
  "up",
  "controller_runtime_reconcile_total",
  "controller_runtime_reconcile_errors_total",
  "controller_runtime_reconcile_time_seconds_bucket",
  "workqueue_depth",
  "workqueue_adds_total",
  "workqueue_retries_total",
  "workqueue_queue_duration_seconds_bucket",
  "workqueue_work_duration_seconds_bucket",
  "dsc_peer_connected",
  "dsc_peer_rtt_seconds",
  "dsc_peer_last_heard_timestamp_seconds",
  "dsc_sync_bytes_total",
  "dsc_document_bytes",
  "dsc_verifications_total",
  "dsc_apply_seconds_bucket",
  "dsc_chain_read_seconds_bucket",
  "dsc_chain_errors_total",
  "dsc_guardian_paused",
  "dsc_breach_reports_total",
  "dsc_log_size",
  "dsc_log_receipts_total",
  "dsc_log_witness_lag",
  "dsc_witness_requests_total",
  "dsc_log_anchor_size",
  "dsc_log_anchor_lag_seconds",
  "dsc_log_discrepancies_total",
];

describe("alert rules", () => {
  const rules = alertRules();

  it("hold the alerts SREs expect, in the kubernetes-mixin style", () => {
    const names = rules.map((r) => r.alert);
    expect(names).toEqual(expect.arrayContaining(REQUIRED_ALERTS));
    expect(new Set(names).size).toBe(names.length);
    for (const rule of rules) {
      expect(rule.alert, "CamelCase, Dsc prefix").toMatch(/^Dsc(?:[A-Z][a-z0-9]+)+$/);
      expect(["info", "warning", "critical"], `${rule.alert}: severity`).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, `${rule.alert}: summary`).toMatch(/\S/);
      expect(rule.annotations?.description, `${rule.alert}: description`).toMatch(/\S/);
      expect(rule.annotations?.runbook_url).toBe(`${RUNBOOK_BASE}${rule.alert.toLowerCase()}`);
      // Generic names are scoped to the operator's job: other controllers export them too.
      if (/\b(controller_runtime_|workqueue_|up\{)/.test(rule.expr))
        expect(rule.expr, `${rule.alert}: job selector`).toContain('job="dsc-operator"');
    }
  });

  it("each have a runbook headed `## Runbook: <alert>`", async () => {
    const runbooks = await readFile(RUNBOOKS_FILE, "utf8");
    const headings = [...runbooks.matchAll(/^## Runbook: (\S+)$/gm)].map((m) => m[1]);
    expect(new Set(headings)).toEqual(new Set(rules.map((r) => r.alert)));
    for (const heading of headings) {
      const section = runbooks.split(`## Runbook: ${heading}\n`)[1]?.split(/^## /m)[0] ?? "";
      for (const part of ["**What it means.**", "**How to check.**", "**How to fix.**"])
        expect(section, `${heading}: ${part}`).toContain(part);
    }
  });

  it("each have a promtool test that expects it to fire", async () => {
    const tests = parse(await readFile(RULES_TEST_FILE, "utf8")) as {
      rule_files: string[];
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    expect(tests.rule_files).toEqual(["prometheus-rules.yaml"]);
    const fired = new Set(
      tests.tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    expect(fired).toEqual(new Set(rules.map((r) => r.alert)));
  });

  it("compress to a test time scale without changing anything else", () => {
    const compressed = alertRules(parse(compressedRules("2s", "30s")) as RuleFile);
    expect(compressed.map((r) => r.alert)).toEqual(rules.map((r) => r.alert));
    for (const [i, rule] of compressed.entries()) {
      expect(rule.expr).not.toMatch(/\[\d+m\]|offset \d+m/);
      const timeless = (expr = ""): string => expr.replace(/\[\d+[smh]\]|offset \d+[smh]/g, "");
      expect(timeless(rule.expr)).toBe(timeless(rules[i]?.expr));
      if (rules[i]?.for !== undefined) expect(rule.for).toBe("2s");
    }
  });
});

describe("dashboard", () => {
  const dashboard = readDashboard();
  const queries = panelQueries(dashboard);

  it("is a Grafana dashboard on a ${datasource} variable, with a region variable", () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    const variables = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
    expect(variables.datasource).toMatchObject({ type: "datasource", query: "prometheus" });
    expect(variables.region).toMatchObject({ type: "query" });
    expect(variables.region?.definition).toContain("region");
    const panels = panelsOf(dashboard);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const panel of panels.filter((p) => p.type !== "row")) {
      expect(panel.datasource?.uid, panel.title).toBe("${datasource}");
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
  });

  it("shows every metric family SREs expect, each query filtered by region", () => {
    const all = queries.map((q) => q.expr).join("\n");
    for (const metric of REQUIRED_METRICS) expect(all).toMatch(new RegExp(`\\b${metric}\\{`));
    for (const q of queries) {
      expect(q.expr, `${q.panel.title} ${q.refId}`).toContain('region=~"$region"');
      if (/\b(controller_runtime_|workqueue_|up\{)/.test(q.expr))
        expect(q.expr, `${q.panel.title} ${q.refId}`).toContain('job="dsc-operator"');
    }
  });
});

const promtool = findTool("promtool");

describe("promtool", () => {
  if (!promtool) {
    if (inCi())
      it("is installed (CI must run the rule checks)", () => {
        throw new Error(`${installHint("promtool")} CI=true: the alert rules must be checked here.`);
      });
    else {
      console.warn(`SKIPPED promtool checks of the alert rules: ${installHint("promtool")}`);
      it.skip(`checks the rules: skipped, ${installHint("promtool")}`, () => {
        // nothing: skipped
      });
    }
    return;
  }
  const tool = promtool;

  it("check rules: the rule file is valid", async () => {
    const { stdout } = await run(tool, ["check", "rules", RULES_FILE]);
    expect(stdout).toContain("SUCCESS");
  });

  it("test rules: every alert fires when, and only when, its tests say", async () => {
    const { stdout } = await run(tool, ["test", "rules", RULES_TEST_FILE]).catch((error: unknown) => {
      const e = error as { stdout?: string; stderr?: string };
      throw new Error(`promtool test rules failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    });
    expect(stdout).toContain("SUCCESS");
  });

  it("parses every dashboard query, variables expanded as Grafana does", async () => {
    const variables = { region: "alpha|beta|gamma", __rate_interval: "1m", __interval: "15s", __range: "1h" };
    const dir = await mkdtemp(join(tmpdir(), "dsc-dashboard-"));
    try {
      const file = join(dir, "dashboard-queries.yaml");
      const rules = panelQueries(readDashboard()).map((q) => ({
        record: `dashboard:panel_${String(q.panel.id)}_${q.refId}`,
        expr: expand(q.expr, variables),
      }));
      await writeFile(file, stringify({ groups: [{ name: "dashboard", rules }] }));
      const { stdout } = await run(tool, ["check", "rules", file]).catch((error: unknown) => {
        const e = error as { stdout?: string; stderr?: string };
        throw new Error(`a dashboard query does not parse:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
      });
      expect(stdout).toContain(`SUCCESS: ${String(rules.length)} rules found`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
