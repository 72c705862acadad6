// The soak: 100,000 updates to 1,000 manifests over three regions, each with
// its real store, replica, peer sync and rebaser (e2e/support/memory-federation.ts),
// under the operator's default rebase policy. Every 10,000 updates it prints
// alpha's document and spec store on disk, the epoch, and what a fresh
// process takes to load alpha's state (time, RSS); the same workload without
// rebasing runs beside it for the first updates, to show what is being bounded.
// `node bench/soak.ts [updates]` runs it alone; bench/run.ts calls `benchSoak`.
import { cp, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { MemoryFederation } from "../e2e/support/memory-federation.ts";
import { approvalsFor, specJson, submission } from "../e2e/support/state-fixtures.ts";
import { DEFAULT_REBASE_POLICY, type RebasePolicy } from "../operator/replication/rebaser.ts";
import { epochOf } from "../operator/state/document.ts";
import { runChild } from "./state.ts";
import { table } from "./stats.ts";

const REGIONS = ["alpha", "beta", "gamma"];
const MANIFESTS = 1000;
/** Updates per reconcile pass: one change in the submitting region, then one per region recording its outcome. */
const PASS = 100;
const EVERY = 10_000;
const repo = fileURLToPath(new URL("..", import.meta.url));
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

export interface SoakRow {
  readonly updates: number;
  readonly epoch: number;
  readonly documentBytes: number;
  readonly specs: number;
  readonly specBytes: number;
  readonly loadSeconds: number;
  readonly rssBytes: number;
  readonly seconds: number;
}

async function dirBytes(dir: string): Promise<{ files: number; bytes: number }> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const sizes = await Promise.all(names.map(async (n) => (await stat(join(dir, n))).size));
  return { files: names.length, bytes: sizes.reduce((a, b) => a + b, 0) };
}

/** A fresh process opens a copy of the state directory, as an operator does at start. */
async function loadInChild(dir: string): Promise<{ loadSeconds: number; rssBytes: number }> {
  const copy = await mkdtemp(join(tmpdir(), "dsc-soak-load-"));
  // The region is live: a temp file may come and go while the directory is copied.
  await cp(dir, copy, { recursive: true, filter: (src) => !src.endsWith(".tmp") });
  const store = JSON.stringify(pathToFileURL(join(repo, "operator/state/store.ts")).href);
  const script = `
    const { StateStore } = await import(${store});
    const started = performance.now();
    const { store } = await StateStore.open(${JSON.stringify(copy)});
    const loadSeconds = (performance.now() - started) / 1000;
    const rssBytes = process.memoryUsage.rss();
    await store.close();
    process.stdout.write(JSON.stringify({ loadSeconds, rssBytes }));
  `;
  try {
    return await runChild<{ loadSeconds: number; rssBytes: number }>(script);
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}

/** One pass: PASS updates from `from`, applied in all three regions. */
async function pass(f: MemoryFederation, first: number): Promise<void> {
  const from = REGIONS[(first / PASS) % REGIONS.length] ?? "alpha";
  const updates = Array.from({ length: PASS }, (_, i) => {
    const k = first + i;
    const id = `soak/m-${String(k % MANIFESTS).padStart(4, "0")}`;
    const nonce = Math.floor(k / MANIFESTS) + 1;
    return { s: submission(id, nonce, from, Date.now()), json: specJson(id, nonce, 1024), nonce };
  });
  for (const r of f.regions.values()) await Promise.all(updates.map((u) => r.specs.put(u.s.digest, u.json)));
  await f.get(from).replica.change((d) => {
    for (const u of updates) d.submit(u.s).approve(u.s.digest, approvalsFor(u.nonce));
  });
  await f.settle();
  for (const region of REGIONS) {
    await f.get(region).replica.change((d) => {
      for (const u of updates)
        d.recordApplied({
          id: u.s.id,
          region,
          nonce: u.nonce,
          digest: u.s.digest,
          state: "Applied",
          at: Date.now(),
        });
    });
  }
  await f.settle();
}

const HEADER = ["updates", "epoch", "document", "specs", "spec store", "load", "RSS after load", "elapsed"];
const cells = (r: SoakRow): string[] => [
  String(r.updates),
  String(r.epoch),
  mb(r.documentBytes),
  String(r.specs),
  mb(r.specBytes),
  `${r.loadSeconds.toFixed(2)} s`,
  mb(r.rssBytes),
  `${r.seconds.toFixed(0)} s`,
];

/** Runs `updates`, printing a row every `every` as it is measured. */
export async function soak(
  updates: number,
  policy: RebasePolicy,
  print: (line: string) => void,
  every = EVERY,
): Promise<SoakRow[]> {
  const f = await MemoryFederation.start(REGIONS, policy);
  const rows: SoakRow[] = [];
  const started = performance.now();
  try {
    for (let k = 0; k < updates; k += PASS) {
      await pass(f, k);
      if ((k + PASS) % every !== 0) continue;
      const alpha = f.get("alpha");
      const specs = await dirBytes(join(alpha.dir, "specs"));
      const row = {
        updates: k + PASS,
        epoch: epochOf(alpha.replica.doc),
        documentBytes: alpha.replica.documentBytes(),
        specs: specs.files,
        specBytes: specs.bytes,
        ...(await loadInChild(alpha.dir)),
        seconds: (performance.now() - started) / 1000,
      };
      rows.push(row);
      print(cells(row).join(" | "));
    }
  } finally {
    await f.close();
  }
  return rows;
}

/**
 * The default policy, in the soak's time: it runs ~120 updates a second, years of a federation
 * in minutes, so the interval after a rebase (whose growth sets the next threshold) is 5 s,
 * not the default 60 s, which here would hold ~7,000 updates.
 */
const SOAK_POLICY: RebasePolicy = { ...DEFAULT_REBASE_POLICY, minIntervalMs: 5_000 };

export async function benchSoak(updates = 100_000, controlUpdates = 20_000): Promise<void> {
  console.log(
    `\n== Soak: ${String(updates)} updates to ${String(MANIFESTS)} manifests over three regions (rebase past ${mb(SOAK_POLICY.minBytes)} and twice its size just after the last, at most once in ${String(SOAK_POLICY.minIntervalMs / 1000)} s) ==`,
  );
  console.log(`alpha, every ${String(EVERY)} updates: ${HEADER.join(" | ")}`);
  const rows = await soak(updates, SOAK_POLICY, console.log);
  console.log(`the same without rebasing, for ${String(controlUpdates)} updates:`);
  const control = await soak(controlUpdates, { minBytes: Infinity, minIntervalMs: 0 }, console.log);
  console.log(`\n${table([HEADER, ...rows.map(cells)])}`);
  for (const c of control) {
    const r = rows.find((x) => x.updates === c.updates);
    if (!r) continue;
    console.log(
      `at ${String(c.updates)} updates, without / with rebasing: document ${(c.documentBytes / r.documentBytes).toFixed(2)}x, spec store ${(c.specBytes / r.specBytes).toFixed(2)}x, load ${(c.loadSeconds / r.loadSeconds).toFixed(2)}x, RSS ${(c.rssBytes / r.rssBytes).toFixed(2)}x`,
    );
  }
  // Flat, for a saw-tooth: the peaks of the second half no higher than those of the first.
  if (rows.length < 2) return;
  const half = Math.floor(rows.length / 2);
  const peaks = (pick: (r: SoakRow) => number, show: (n: number) => string): string =>
    `${show(Math.max(...rows.slice(0, half).map(pick)))} / ${show(Math.max(...rows.slice(half).map(pick)))}`;
  const secs = (n: number): string => `${n.toFixed(2)} s`;
  console.log(
    `highest in the first half / the second: document ${peaks((r) => r.documentBytes, mb)}, spec store ${peaks((r) => r.specBytes, mb)}, load ${peaks((r) => r.loadSeconds, secs)}, RSS ${peaks((r) => r.rssBytes, mb)}; ${String(updates)} updates in ${rows.at(-1)?.seconds.toFixed(0) ?? "?"} s`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await benchSoak(Number(process.argv[2] ?? 100_000), Number(process.argv[3] ?? 20_000));
}
