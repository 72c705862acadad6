// Federation state (Automerge): convergence after a partition, the cost of a
// 10,000-manifest document (size, load time, RSS of a process that loads it),
// and this layout beside a naive one. In-process, no test bed needed:
// `node bench/state.ts` runs it alone; bench/run.ts calls `benchState`.
import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import * as A from "@automerge/automerge";
import { createState, freshActor, loadState, type StateDoc } from "../operator/state/document.ts";
import { applied, approvalsFor, specJson, submission } from "../e2e/support/state-fixtures.ts";
import type { Submission } from "../operator/state/model.ts";
import { manifestIds } from "../operator/state/readers.ts";
import { StateStore } from "../operator/state/store.ts";
import { SyncSessions } from "../operator/state/sync.ts";
import { batch, type Draft } from "../operator/state/transitions.ts";
import { imageNodeFlags } from "../e2e/testbed/image.ts";
import { table } from "./stats.ts";

const REGIONS = ["alpha", "beta", "gamma"] as const;
const PASS = 100; // manifests per reconcile pass (one change)
const seconds = (since: number): number => (performance.now() - since) / 1000;
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

const manifest = (i: number, region = "alpha"): Submission => ({
  ...submission(`ns-${i % 50}/m-${i}`, 1 + (i % 3), region),
  spec: specJson(`m-${i}`, 1, 1024),
});

// ---- convergence after a partition ----

export interface ConvergenceResult {
  readonly changesPerSide: number;
  readonly seconds: number;
  readonly roundTrips: number;
  readonly messages: number;
  readonly bytes: number;
}

/**
 * One change per write on each side, as a busy region makes them: a submit
 * (1 KB spec), its approvals, then this region's applied state, in turn.
 */
function diverge(doc: StateDoc, region: string, changes: number): StateDoc {
  let d = doc;
  for (let i = 0; i < changes; i++) {
    const n = Math.floor(i / 3);
    const s = { ...manifest(n, region), id: `${region}/m-${n}` };
    d = batch(d, (x) =>
      i % 3 === 0
        ? x.submit(s)
        : i % 3 === 1
          ? x.approve(s.digest, approvalsFor(n))
          : x.recordApplied(applied(s, region, "Applied")),
    );
  }
  return d;
}

export function benchConvergence(changesPerSide: number): ConvergenceResult {
  const [sa, sb] = [new SyncSessions(), new SyncSessions()];
  // Both sides share 1,000 manifests before the partition.
  let a = batch(createState(freshActor()), (d) => {
    writePass(d, 0, 1_000);
  });
  let b = loadState(A.save(a), freshActor());
  const exchange = () => {
    let [roundTrips, messages, bytes] = [0, 0, 0];
    for (let round = 0; round < 1000; round++) {
      const toB = sa.generate(a, "beta");
      if (toB !== null) b = sb.receive(b, "alpha", toB).doc;
      const toA = sb.generate(b, "alpha");
      if (toA !== null) a = sa.receive(a, "beta", toA).doc;
      if (toA === null && toB === null) return { roundTrips, messages, bytes };
      roundTrips++;
      messages += (toA === null ? 0 : 1) + (toB === null ? 0 : 1);
      bytes += (toA?.length ?? 0) + (toB?.length ?? 0);
    }
    throw new Error("sync did not settle in 1000 round trips");
  };
  exchange();
  sa.disconnected("beta");
  sb.disconnected("alpha");
  a = diverge(a, "alpha", changesPerSide);
  b = diverge(b, "beta", changesPerSide);
  const started = performance.now();
  const r = exchange();
  const result = { changesPerSide, seconds: seconds(started), ...r };
  if (manifestIds(a).length !== manifestIds(b).length) throw new Error("replicas did not converge");
  return result;
}

// ---- a 10,000-manifest document ----

export interface LoadRun {
  /** What the loading process is (see LOADERS). */
  readonly process: string;
  /** Medians over the runs. */
  readonly loadSeconds: number;
  /** RSS of a fresh process right after loading the store (includes Node itself). */
  readonly rssBytes: number;
  /** RSS of the same process after it compacted the store (saved the whole document) once. */
  readonly compactedRssBytes: number;
  /** Then with the informer cache of a live cluster's ConsortiumManifests, for the live loader: 1 s after it filled, */
  readonly cachedRssBytes?: number;
  /** and 15 s after. */
  readonly settledRssBytes?: number;
  /** RSS of the same process before loading: Node, its modules, Automerge's wasm. */
  readonly baselineRssBytes: number;
}

export interface LoadResult {
  readonly manifests: number;
  readonly buildSeconds: number;
  readonly docBytes: number;
  /** The specs' bytes, stored beside the document. */
  readonly specBytes: number;
  readonly runs: LoadRun[];
}

function writePass(d: Draft, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const s = manifest(i, REGIONS[i % 3]);
    d.submit(s).approve(s.digest, approvalsFor(i));
  }
}

/** Submits and approvals by one writer, then each region records its own applied states, merged. */
function buildRealistic(manifests: number): StateDoc {
  let doc = createState(freshActor());
  for (let from = 0; from < manifests; from += PASS) {
    doc = batch(doc, (d) => {
      writePass(d, from, Math.min(manifests, from + PASS));
    });
  }
  for (const region of REGIONS) {
    let own = A.clone(doc, { actor: freshActor() });
    for (let from = 0; from < manifests; from += PASS) {
      own = batch(own, (d) => {
        for (let i = from; i < Math.min(manifests, from + PASS); i++) {
          d.recordApplied(applied(manifest(i), region, region === "gamma" ? "Pending" : "Applied"));
        }
      });
    }
    doc = A.merge(doc, own);
  }
  return doc;
}

const repo = fileURLToPath(new URL("..", import.meta.url));

/**
 * A child that loads the store (the document, and the directory of specs
 * beside it), compacts it once, and reports JSON. The image runs compiled
 * JavaScript (dist/) with the node flags of its ENTRYPOINT, so that is what is
 * measured, beside Node's defaults; type stripping (npm start in
 * development) loads a compiler into the process, shown for comparison.
 * "every operator module" imports dist/main.js first (it does not run
 * without import.meta.main): its own Kubernetes client, viem, pino,
 * prom-client, Automerge; not the informers' caches of a live cluster.
 */
interface Loader {
  readonly process: string;
  readonly script: (dir: string) => string;
  readonly flags?: readonly string[];
}

/** A live cluster to measure against: its kubeconfig, holding ConsortiumManifests (bench/live-cache.ts). */
export interface LiveCluster {
  readonly kubeconfig: string;
  readonly manifests: number;
}

const LOADERS: readonly Loader[] = [
  {
    process: "state store alone, compiled",
    script: (dir) => loaderScript(dir, false, "dist", ".js"),
  },
  {
    process: "every operator module + state store, compiled, Node's default flags",
    script: (dir) => loaderScript(dir, true, "dist", ".js"),
  },
  {
    process: `every operator module + state store, compiled, the image's flags (${imageNodeFlags().join(" ")})`,
    script: (dir) => loaderScript(dir, true, "dist", ".js"),
    flags: imageNodeFlags(),
  },
  {
    process: "state store alone, TypeScript by type stripping (development)",
    script: (dir) => loaderScript(dir, false, "operator", ".ts"),
  },
];

/** The image's process with the state loaded, then an informer filled with the cluster's manifests. */
const liveLoader = (live: LiveCluster): Loader => ({
  process: `live: the image's process, then the informer cache of the cluster's ${String(live.manifests)} ConsortiumManifests`,
  script: (dir) => loaderScript(dir, true, "dist", ".js", live),
  flags: imageNodeFlags(),
});

function loaderScript(
  dir: string,
  everything: boolean,
  root: string,
  ext: string,
  live?: LiveCluster,
): string {
  const at = (path: string) => JSON.stringify(`${repo}${root}/${path}${ext}`);
  // As main.ts makes its ConsortiumManifest informer; measured a second after it has synced.
  const cache = live
    ? `
    const { Informer } = await import(${at("runtime/informer")});
    const { KubeClient } = await import(${at("kube/client")});
    const { loadKubeconfigFile } = await import(${at("kube/config")});
    const { pino } = await import("pino");
    const client = new KubeClient(loadKubeconfigFile(${JSON.stringify(live.kubeconfig)}));
    const informer = new Informer({
      kubeConfig: client,
      path: "/apis/dsc.federation.dev/v1alpha1/consortiummanifests",
      logger: pino({ level: "silent" }),
      metadataOnly: true,
    });
    informer.start();
    await informer.waitForSync();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const cachedRssBytes = process.memoryUsage.rss();
    // Once V8's memory reducer has collected what the list left behind (it waits for a quiet spell).
    await new Promise((resolve) => setTimeout(resolve, 14000));
    const settledRssBytes = process.memoryUsage.rss();
    const cached = informer.list().length;
    await informer.stop();
    client.close();`
    : "const cachedRssBytes = undefined, settledRssBytes = undefined, cached = undefined;";
  return `
    ${everything ? `await import(${at("main")});` : ""}
    const { StateStore } = await import(${at("state/store")});
    const { manifestIds } = await import(${at("state/readers")});
    const baselineRssBytes = process.memoryUsage.rss();
    const started = performance.now();
    const { doc, store, specs } = await StateStore.open(${JSON.stringify(dir)});
    const loadSeconds = (performance.now() - started) / 1000;
    const count = manifestIds(doc).length;
    const rssBytes = process.memoryUsage.rss();
    // Saving the whole document is Automerge's hungriest step; the store does it when it compacts.
    await store.compact(doc);
    const compactedRssBytes = process.memoryUsage.rss();
    ${cache}
    await store.close();
    process.stdout.write(JSON.stringify({ loadSeconds, rssBytes, compactedRssBytes, cachedRssBytes, settledRssBytes, cached, baselineRssBytes, count, specs: specs.size }));
  `;
}

interface ChildReport {
  loadSeconds: number;
  rssBytes: number;
  compactedRssBytes: number;
  /** With a live cluster: RSS once the informer cache holds its manifests, and how many. */
  cachedRssBytes?: number;
  settledRssBytes?: number;
  cached?: number;
  baselineRssBytes: number;
  count: number;
  specs: number;
}

/** Runs `script` in a fresh Node process and returns the JSON it printed. */
export function runChild<T>(script: string, flags: readonly string[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...flags, "--input-type=module", "-e", script], {
      cwd: repo,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    proc.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    proc.on("error", reject);
    proc.on("exit", (code) => {
      if (code === 0) resolve(JSON.parse(out) as T);
      else reject(new Error(`load child exited with ${String(code)}`));
    });
  });
}

const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Compiles dist/ (as the image's build stage does), then three fresh processes per loader. */
export async function benchLoad(manifests = 10_000, live?: LiveCluster): Promise<LoadResult> {
  execFileSync(
    process.execPath,
    [join(repo, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
    {
      cwd: repo,
      stdio: "inherit",
    },
  );
  const started = performance.now();
  const doc = buildRealistic(manifests);
  const buildSeconds = seconds(started);
  const dir = await mkdtemp(join(tmpdir(), "dsc-bench-state-"));
  try {
    const { store } = await StateStore.open(dir);
    await store.compact(doc);
    const docBytes = store.sizes().snapshotBytes;
    await store.close();
    // The specs the document names, stored beside it as the operator stores them (setup, not measured).
    await mkdir(join(dir, "specs"), { recursive: true });
    let specBytes = 0;
    for (let i = 0; i < manifests; i++) {
      const s = manifest(i, REGIONS[i % 3]);
      specBytes += s.spec.length;
      await writeFile(join(dir, "specs", `${s.digest}.json`), s.spec);
    }
    const runs: LoadRun[] = [];
    for (const loader of live ? [...LOADERS, liveLoader(live)] : LOADERS) {
      const reports: ChildReport[] = [];
      for (let i = 0; i < 3; i++) reports.push(await runChild<ChildReport>(loader.script(dir), loader.flags));
      if (reports.some((r) => r.count !== manifests || r.specs !== manifests))
        throw new Error(`a child did not load ${String(manifests)} manifests and their specs`);
      if (live && reports.some((r) => r.cached !== undefined && r.cached < live.manifests))
        throw new Error(`a child's informer did not hold the cluster's ${String(live.manifests)} manifests`);
      const cached = reports.flatMap((r) => (r.cachedRssBytes === undefined ? [] : [r.cachedRssBytes]));
      const settled = reports.flatMap((r) => (r.settledRssBytes === undefined ? [] : [r.settledRssBytes]));
      runs.push({
        process: loader.process,
        loadSeconds: median(reports.map((r) => r.loadSeconds)),
        rssBytes: median(reports.map((r) => r.rssBytes)),
        compactedRssBytes: median(reports.map((r) => r.compactedRssBytes)),
        ...(cached.length > 0 && { cachedRssBytes: median(cached), settledRssBytes: median(settled) }),
        baselineRssBytes: median(reports.map((r) => r.baselineRssBytes)),
      });
    }
    return { manifests, buildSeconds, docBytes, specBytes, runs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- this layout beside a naive one ----

export interface LayoutRow {
  readonly layout: string;
  /** Manifests written before the cap. */
  readonly done: number;
  readonly seconds: number;
  readonly finished: boolean;
}

interface NaiveManifest {
  nonce: number;
  digest: string;
  spec: string;
  approvals: string[];
  applied: Record<string, { state: string; at: number }>;
}

type NaiveDoc = A.Doc<{ manifests: Record<string, NaiveManifest> }>;

/** One flat map, plain strings (so Text), one change per write: 6 writes per manifest. */
function naivePass(doc: NaiveDoc, from: number, to: number): NaiveDoc {
  let d = doc;
  for (let i = from; i < to; i++) {
    const s = manifest(i);
    d = A.change(d, (x) => {
      x.manifests[s.id] = { nonce: s.nonce, digest: s.digest, spec: s.spec, approvals: [], applied: {} };
    });
    for (const a of approvalsFor(i)) d = A.change(d, (x) => x.manifests[s.id]?.approvals.push(a.data));
    for (const r of REGIONS) {
      d = A.change(d, (x) => {
        const m = x.manifests[s.id];
        if (m) m.applied[r] = { state: "Applied", at: 2_000 };
      });
    }
  }
  return d;
}

/** This layout, one change per write, to separate the effect of batching from the layout's. */
function unbatchedPass(doc: StateDoc, from: number, to: number): StateDoc {
  let d = doc;
  for (let i = from; i < to; i++) {
    const s = manifest(i);
    d = batch(d, (x) => x.submit(s));
    for (const a of approvalsFor(i)) d = batch(d, (x) => x.approve(s.digest, [a]));
    for (const r of REGIONS) d = batch(d, (x) => x.recordApplied(applied(s, r, "Applied")));
  }
  return d;
}

const batchedPass = (doc: StateDoc, from: number, to: number): StateDoc =>
  batch(doc, (d) => {
    writePass(d, from, to);
    for (let i = from; i < to; i++) {
      for (const r of REGIONS) d.recordApplied(applied(manifest(i), r, "Applied"));
    }
  });

/** Writes `manifests` in passes of PASS until done or past the cap (checked between passes). */
function timed<D>(
  layout: string,
  manifests: number,
  capSeconds: number,
  start: D,
  pass: (d: D, from: number, to: number) => D,
): LayoutRow {
  const started = performance.now();
  let doc = start;
  let done = 0;
  while (done < manifests && seconds(started) < capSeconds) {
    const to = Math.min(manifests, done + PASS);
    doc = pass(doc, done, to);
    done = to;
  }
  return { layout, done, seconds: seconds(started), finished: done === manifests };
}

export function benchLayout(manifests = 10_000, capSeconds = 120): LayoutRow[] {
  const fresh = () => createState(freshActor());
  return [
    timed(
      "bucketed, strings in keys, specs beside, one change per pass of 100",
      manifests,
      capSeconds,
      fresh(),
      batchedPass,
    ),
    timed(
      "bucketed, strings in keys, specs beside, one change per write",
      manifests,
      capSeconds,
      fresh(),
      unbatchedPass,
    ),
    timed(
      "naive: flat map, plain strings, spec inside, one change per write",
      manifests,
      capSeconds,
      A.from({ manifests: {} }) as NaiveDoc,
      naivePass,
    ),
  ];
}

// ---- all of it ----

export interface StateBench {
  readonly convergence: ConvergenceResult[];
  readonly load: LoadResult;
  readonly layout: LayoutRow[];
}

export async function benchState(
  log: (line: string) => void = console.log,
  live?: LiveCluster,
): Promise<StateBench> {
  log("\n== Federation state: convergence after a partition (two replicas, in process) ==");
  const convergence = [1_000, 10_000].map(benchConvergence);
  log(
    table([
      ["changes per side", "seconds", "round trips", "messages", "bytes", "bytes per change"],
      ...convergence.map((c) => [
        String(c.changesPerSide),
        c.seconds.toFixed(2),
        String(c.roundTrips),
        String(c.messages),
        String(c.bytes),
        (c.bytes / (2 * c.changesPerSide)).toFixed(0),
      ]),
    ]),
  );
  log("(the document's sync only: each new spec, 1 KB here, then travels once per peer by digest)");

  log("\n== Federation state: 10,000 manifests (1 KB spec, 2 approvals, 3 regions' applied state) ==");
  const load = await benchLoad(10_000, live);
  log(
    `document: ${mb(load.docBytes)} saved, built in ${load.buildSeconds.toFixed(1)} s; specs beside it: ${mb(load.specBytes)}; medians of 3 fresh processes:`,
  );
  log(
    table([
      [
        "process",
        "load",
        "RSS before load",
        "RSS after load",
        "load adds",
        "RSS after a compaction",
        "then with the informer cache: 1 s / 15 s after it filled",
      ],
      ...load.runs.map((r) => [
        r.process,
        `${(r.loadSeconds * 1000).toFixed(0)} ms`,
        mb(r.baselineRssBytes),
        mb(r.rssBytes),
        mb(r.rssBytes - r.baselineRssBytes),
        mb(r.compactedRssBytes),
        r.cachedRssBytes === undefined ? "-" : `${mb(r.cachedRssBytes)} / ${mb(r.settledRssBytes ?? NaN)}`,
      ]),
    ]),
  );
  const met = (ok: boolean) => (ok ? "met" : "MISSED");
  const limit = 200 * 1024 * 1024;
  for (const r of load.runs.slice(0, 3))
    log(
      `${r.process}: load under 1 s ${met(r.loadSeconds < 1)}, RSS under 200 MB after load ${met(r.rssBytes < limit)}, after a compaction ${met(r.compactedRssBytes < limit)}`,
    );
  for (const r of load.runs.filter((x) => x.cachedRssBytes !== undefined))
    log(
      `${r.process}: RSS under 200 MB 1 s after the cache filled ${met((r.cachedRssBytes ?? Infinity) < limit)}, 15 s after ${met((r.settledRssBytes ?? Infinity) < limit)} (the cache is the cluster's objects, not the federation state)`,
    );

  log("\n== Federation state: building 10,000 manifests, this layout beside a naive one (cap 120 s each) ==");
  const layout = benchLayout();
  const ours = layout[0] as LayoutRow;
  const rate = (r: LayoutRow) => r.done / r.seconds;
  log(
    table([
      ["layout", "manifests", "seconds", "manifests/s", "ratio to batched"],
      ...layout.map((r) => [
        r.layout,
        String(r.done),
        r.finished ? r.seconds.toFixed(1) : `did not finish in ${r.seconds.toFixed(0)} s`,
        rate(r).toFixed(0),
        // Unfinished runs compare rates: a lower bound, since writes slow down as a map grows.
        `${r.finished ? (r.seconds / ours.seconds).toFixed(1) : `>= ${(rate(ours) / rate(r)).toFixed(1)}`}x`,
      ]),
    ]),
  );
  return { convergence, load, layout };
}

if (import.meta.main) await benchState();
