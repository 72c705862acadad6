// helm, as the generator and the tests run it: built from the Go module proxy
// by e2e/testbed/helm/build.sh (cached under ~/.cache/dsc-testbed/helm-<hash>
// after the first build, about 3.5 min cold on 2 cores).
import { execFile, execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export const REPO = resolve(import.meta.dirname, "..");
export const CHART = resolve(REPO, "charts/dsc-operator");
const BUILD = resolve(REPO, "e2e/testbed/helm/build.sh");

let cached: string | undefined;

/** The helm binary's path, building it first if it is not cached. Build progress goes to stderr. */
export function helmBinary(): string {
  cached ??= execFileSync(BUILD, [], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  return cached;
}

export interface HelmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs helm; never throws for a non-zero exit (the result says it). */
export async function helm(args: readonly string[]): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(helmBinary(), args, { cwd: REPO, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw error;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** `helm template` of the chart; throws with helm's message when it refuses. */
export async function template(
  options: {
    readonly release?: string;
    readonly namespace?: string;
    readonly valuesFiles?: readonly string[];
    readonly set?: readonly string[];
    readonly includeCrds?: boolean;
  } = {},
): Promise<string> {
  const args = [
    "template",
    options.release ?? "dsc-operator",
    CHART,
    "--namespace",
    options.namespace ?? "dsc-system",
    ...(options.includeCrds ? ["--include-crds"] : []),
    ...(options.valuesFiles ?? []).flatMap((f) => ["--values", f]),
    ...(options.set ?? []).flatMap((s) => ["--set", s]),
  ];
  const result = await helm(args);
  if (result.code !== 0) throw new Error(`helm ${args.join(" ")}: ${result.stderr.trim()}`);
  return result.stdout;
}
