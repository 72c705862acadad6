import { describe, expect, it } from "vitest";
import { classify } from "./in-use.ts";
import { clock, Narrator, seconds, timingTable } from "./print.ts";

describe("the demo's printing", () => {
  it("prints durations and the clock the way a reader takes them in", () => {
    expect([seconds(420), seconds(12_400), seconds(125_000)]).toEqual(["0.42 s", "12.4 s", "2 min 05 s"]);
    expect([clock(0), clock(65_900), clock(725_000)]).toEqual([" 0:00", " 1:05", "12:05"]);
  });

  it("prints one line per step with the clock, and keeps the timings for the summary", async () => {
    const lines: string[] = [];
    let t = 1000;
    const say = new Narrator(
      (line) => lines.push(line),
      () => t,
    );
    say.chapter(1, "A DSP submits a manifest");
    t += 1500;
    say.done("submitted", { label: "submit", ms: 1500 });
    say.note("digest 0x12");
    await say.step(
      "apply",
      () => {
        t += 250;
        return Promise.resolve("alpha ✓ beta ✓ gamma ✓");
      },
      (regions) => regions,
    );
    say.record("quiet", 2000);
    say.fail("gave up");
    expect(lines).toEqual([
      "",
      "1. A DSP submits a manifest",
      " 0:01  ✓ submitted (1.5 s)",
      "         digest 0x12",
      " 0:01  ✓ alpha ✓ beta ✓ gamma ✓ (0.25 s)",
      " 0:01  ✗ gave up",
    ]);
    expect(timingTable(say.timings)).toEqual([
      "step      time",
      "──────  ──────",
      "submit   1.5 s",
      "apply   0.25 s",
      "quiet    2.0 s",
    ]);
  });
});

describe("who else uses the test bed", () => {
  const root = "/work/main/.testbed";
  const proc = (cmdline: string[], env: Record<string, string>, cwd = "/work/main") => ({
    pid: 42,
    cmdline,
    env,
    cwd,
  });

  it("sees an operator, an end-to-end run and another demo on the same test bed", () => {
    expect(
      classify(
        proc(["node", "/work/main/operator/main.ts"], {
          KUBECONFIG: `${root}/alpha/dsc-operator.kubeconfig`,
        }),
        root,
      ),
    ).toBe("an operator");
    expect(classify(proc(["node", "/work/main/node_modules/.bin/vitest", "run"], {}), root)).toBe(
      "a vitest run (the end-to-end tests)",
    );
    expect(classify(proc(["node", "e2e/demo/run.ts"], { DSC_TESTBED_DIR: ".testbed" }), root)).toBe(
      "another demo",
    );
  });

  it("ignores them on another test bed, and anything else", () => {
    const other = { KUBECONFIG: "/tmp/other/alpha/dsc-operator.kubeconfig" };
    expect(classify(proc(["node", "/work/main/operator/main.ts"], other), root)).toBeUndefined();
    expect(classify(proc(["node", "vitest"], { DSC_TESTBED_DIR: "/tmp/other" }), root)).toBeUndefined();
    expect(classify(proc(["node", "e2e/demo/run.ts"], {}, "/elsewhere"), root)).toBeUndefined();
    expect(classify(proc(["bash"], {}), root)).toBeUndefined();
  });
});
