// The Dockerfile, as far as it can be checked without a Docker engine: the
// runtime stage runs the build stage's output as a numeric non-root user,
// sets only variables the operator reads, and probes the port the operator
// serves /healthz on; and that output, built the same way, starts and answers
// /healthz and /metrics without writing anything.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../operator/config.ts";
import { REPO } from "../../charts/helm.ts";
import { imageEntrypoint, imageNodeFlags } from "../testbed/image.ts";
import { freePort } from "../testbed/process.ts";
import { operatorVariables } from "./rendered.ts";

const text = readFileSync(join(REPO, "Dockerfile"), "utf8");
const stages = text.split(/^FROM /m).slice(1);
const runtime = stages.find((s) => /^\S+ AS runtime\b/.test(s)) ?? "";
const build = stages.find((s) => /^\S+ AS build\b/.test(s)) ?? "";
const defaults = loadConfig({}, "host");
const variables = operatorVariables();

describe("the Dockerfile's runtime stage", () => {
  it("runs the build stage's tsc output as a numeric non-root user", () => {
    expect(build).toMatch(/RUN npx tsc -p tsconfig\.build\.json/);
    const tsconfig = JSON.parse(readFileSync(join(REPO, "tsconfig.build.json"), "utf8")) as {
      compilerOptions: { outDir: string; rootDir: string };
    };
    expect(tsconfig.compilerOptions).toMatchObject({ outDir: "dist", rootDir: "operator" });
    expect(runtime).toContain("COPY --from=build /src/dist ./dist");
    // operator/main.ts → dist/main.js, with the flags the test bed and benchmarks use too
    expect(imageEntrypoint(runtime)).toEqual(["node", ...imageNodeFlags(), "dist/main.js"]);
    const user = /^USER (\S+)$/m.exec(runtime)?.[1] ?? "";
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/);
  });

  it("has its node flags read from an exec-form ENTRYPOINT, or says what is wrong", () => {
    expect(imageNodeFlags('ENTRYPOINT ["node", "--a", "--b=1", "dist/main.js"]')).toEqual(["--a", "--b=1"]);
    expect(() => imageNodeFlags("ENTRYPOINT node dist/main.js")).toThrow(/exec-form/);
    expect(() => imageNodeFlags('ENTRYPOINT ["node", "main.js"]')).toThrow(/node \[flags\] dist\/main\.js/);
  });

  it("sets only variables the operator reads, and probes its /healthz port", () => {
    const env = [...runtime.matchAll(/^ENV (.+)$/gm)].flatMap((m) =>
      (m[1] ?? "").split(/\s+/).map((kv) => kv.split("=") as [string, string]),
    );
    for (const [name] of env.filter(([n]) => n.startsWith("DSC_")))
      expect(variables, `${name} is not read by operator/config.ts`).toContain(name);
    const port = Object.fromEntries(env).DSC_HTTP_PORT ?? String(defaults.httpPort);
    expect(Number(port)).toBe(defaults.httpPort);
    expect(runtime).toMatch(new RegExp(`^EXPOSE .*\\b${port}\\b`, "m"));
    expect(runtime).toMatch(/^HEALTHCHECK .*process\.env\.DSC_HTTP_PORT.*\/healthz/m);
  });
});

describe("the built output", () => {
  it("starts from dist/main.js and answers /healthz and /metrics, writing nothing", async () => {
    const scratch = join(REPO, "e2e/chart/.scratch");
    const dist = join(scratch, "dist");
    rmSync(dist, { recursive: true, force: true });
    mkdirSync(scratch, { recursive: true });
    // As the build stage does (inside the repository, so node_modules resolves as in /app).
    execFileSync(
      process.execPath,
      [join(REPO, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", dist],
      {
        cwd: REPO,
      },
    );
    const home = mkdtempSync(join(tmpdir(), "dsc-image-"));
    const kubeconfig = join(home, "..", `${home.split("/").pop() ?? "x"}.kubeconfig`);
    // An API server that is not there: the process must still serve its health endpoint.
    writeFileSync(
      kubeconfig,
      "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n" +
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n",
    );
    const port = await freePort();
    const before = readdirSync(dist, { recursive: true }).length;
    const child = spawn(process.execPath, [...imageNodeFlags(), "dist/main.js"], {
      cwd: scratch,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: home,
        TMPDIR: home,
        NODE_ENV: "production",
        KUBECONFIG: kubeconfig,
        DSC_HTTP_HOST: "127.0.0.1",
        DSC_HTTP_PORT: String(port),
        LOG_LEVEL: "silent",
      },
      stdio: "ignore",
    });
    try {
      let health: Response | undefined;
      for (let i = 0; i < 200 && !health; i++) {
        health = await fetch(`http://127.0.0.1:${String(port)}/healthz`).catch(() => undefined);
        if (!health) await sleep(50);
      }
      expect(health?.status).toBe(200);
      const metrics = await fetch(`http://127.0.0.1:${String(port)}/metrics`);
      expect(await metrics.text()).toContain("process_cpu_seconds_total");
      // Not leading (no API server): not ready.
      expect((await fetch(`http://127.0.0.1:${String(port)}/readyz`)).status).toBe(503);
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    expect(readdirSync(home)).toEqual([]);
    expect(readdirSync(dist, { recursive: true })).toHaveLength(before);
    rmSync(home, { recursive: true, force: true });
    rmSync(kubeconfig, { force: true });
  }, 120_000);
});
