// The operator process started with a configuration it cannot run with: it
// ends at once, non-zero, with one line on stderr that names what is missing
// (what `kubectl logs` and a CrashLoopBackOff's last state show), never a
// stack trace. The image runs the same start (e2e/tests/chart.e2e.test.ts).
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const main = resolve(import.meta.dirname, "main.ts");
const dir = mkdtempSync(join(tmpdir(), "dsc-main-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// A kubeconfig for a server nobody answers on: starting must fail on the setting first.
const kubeconfig = join(dir, "kubeconfig");
writeFileSync(
  kubeconfig,
  [
    "apiVersion: v1",
    "kind: Config",
    "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]",
    "users: [{name: u, user: {token: t}}]",
    "contexts: [{name: x, context: {cluster: c, user: u}}]",
    "current-context: x",
  ].join("\n"),
);

function start(
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      [main],
      // Only what is given: no KUBECONFIG, no ~/.kube/config, no service account.
      { env: { PATH: process.env.PATH ?? "", HOME: dir, DSC_HTTP_PORT: "0", ...env }, timeout: 20_000 },
      (_error, stdout, stderr) => {
        done({ code: child.exitCode, stdout, stderr });
      },
    );
  });
}

describe("the operator started without what it needs", () => {
  it.each([
    [{}, /^dsc-operator: cannot start: not in a cluster and no kubeconfig: KUBERNETES_SERVICE_HOST/],
    [
      { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" },
      /^dsc-operator: cannot start: no service account token at \/var\/run\/secrets\/kubernetes.io\/serviceaccount\/token: mount one/,
    ],
    [
      { KUBECONFIG: join(dir, "missing") },
      /^dsc-operator: cannot start: .*no such file or directory.*missing/,
    ],
    [
      { KUBECONFIG: kubeconfig, DSC_RESYNC_SECONDS: "soon" },
      /^dsc-operator: cannot start: DSC_RESYNC_SECONDS must be a number/,
    ],
    [
      { KUBECONFIG: kubeconfig, DSC_PEER_CERT: join(dir, "tls.crt") },
      /^dsc-operator: cannot start: set both DSC_PEER_CERT and DSC_PEER_KEY/,
    ],
    [
      {
        KUBECONFIG: kubeconfig,
        DSC_REGION: "alpha",
        DSC_LEADER_ELECTION: "false",
        DSC_STATE_DIR: join(dir, "state"),
        DSC_PEER_CERT: join(dir, "tls.crt"),
        DSC_PEER_KEY: join(dir, "tls.key"),
      },
      /^dsc-operator: cannot start: DSC_PEER_CERT=\S+tls\.crt: no such file$/,
    ],
  ])("with %j: one line that names it, and a non-zero exit", async (env, line) => {
    const { code, stderr } = await start(env);
    expect(code).toBe(1);
    const lines = stderr.trimEnd().split("\n");
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toMatch(line);
  });
});
