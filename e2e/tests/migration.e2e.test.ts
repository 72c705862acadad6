// Every federation-state schema the project has shipped, written by the code
// that shipped it (its sources at that commit, run from the test bed's cache:
// e2e/testbed/release.ts), then opened by this release: migrated at start, with
// every record read as before, the specs kept aside until checked, the old
// state kept whole in state.previous, and a second start a plain load.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import * as A from "@automerge/automerge";
import { afterAll, describe, expect, it } from "vitest";
import { epochOf, type StateDoc } from "../../operator/state/document.ts";
import {
  appliedByRegion,
  approvals,
  manifestIds,
  members,
  pauseRecords,
  resumeHints,
  versions,
} from "../../operator/state/readers.ts";
import { unframe } from "../../operator/state/framing.ts";
import { legacyGenesis } from "../../operator/state/migrate.ts";
import { PREVIOUS, StateStore } from "../../operator/state/store.ts";
import { releaseTree } from "../testbed/release.ts";

const run = promisify(execFile);

/** The last commit of each schema: 1 before the guardian pause came, 2 before specs left the document. */
const SHIPPED = [
  { schema: 1, commit: "ccce422fcf356462c844393b42a6dd798cc507ce" },
  { schema: 2, commit: "190d09f9da1ea928fa9360c3184705ce8a3548d4" },
] as const;

/** Run with the old tree's own modules: three manifests' versions, approvals, outcomes, a member; pauses from 2. */
const writer = (tree: string) => `
  const at = (path) => ${JSON.stringify(pathToFileURL(tree).href)} + "/operator/state/" + path;
  const { StateStore } = await import(at("store.ts"));
  const { batch } = await import(at("transitions.ts"));
  const { createHash } = await import("node:crypto");
  const [dir, schema] = [process.argv[1], Number(process.argv[2])];
  const digest = (s) => "0x" + createHash("sha256").update(s).digest("hex");
  const spec = (id, nonce) => JSON.stringify({ tier: "upgrade", targets: ["alpha", "beta", "gamma"], nonce, expiresAt: "2099-01-01T00:00:00Z", objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: id.split("/")[1] } }] });
  const { store, doc } = await StateStore.open(dir);
  let d = doc;
  for (const [id, nonce, region] of [["ops/api", 1, "alpha"], ["ops/api", 2, "beta"], ["web/site", 1, "gamma"]]) {
    const s = { id, nonce, digest: digest(id + "#" + nonce), region, submittedAt: 1000 * nonce, spec: spec(id, nonce) };
    d = batch(d, (x) => {
      x.submit(s).approve(s.digest, [{ safe: "consortium", data: "0x" + "ab".repeat(65) }, { safe: "board", data: "0x" + "cd".repeat(65) }]);
      for (const r of ["alpha", "beta", "gamma"]) x.recordApplied({ id, region: r, nonce, digest: s.digest, state: r === "gamma" && id === "ops/api" ? "Refused" : "Applied", at: 2000 * nonce });
    });
    await store.append(d);
  }
  d = batch(d, (x) => x.setMember({ region: "alpha", dsp: "DSP alpha", safe: "0x" + "a1".repeat(20), endpoint: "alpha.example:7443", fingerprint: "ab".repeat(32) }));
  if (schema >= 2) {
    const pause = (token, region) => ({ token, region, source: "agent", by: "0x" + "a9".repeat(20), dsp: "0x" + "d1".repeat(20), severity: "critical", evidence: digest(token), reason: "settlement: invariant broken", at: 5000 });
    d = batch(d, (x) => x.pause(pause("agent:0x01", "beta")).pause(pause("agent:0x02", "gamma")));
    d = batch(d, (x) => x.resume({ tokens: ["agent:0x01"], manifest: "ops/resume", region: "alpha", at: 6000 }));
  }
  await store.append(d);
  await store.close();
`;

/** What a region reads of a document, by every reader that survives the migration. */
function reads(doc: StateDoc) {
  // Schema 1 had no pauses.
  const has = doc as Partial<StateDoc>;
  const ids = manifestIds(doc);
  return {
    ids,
    versions: ids.map((id) => versions(doc, id)),
    approvals: ids.flatMap((id) => versions(doc, id).map((v) => approvals(doc, v.digest))),
    outcomes: ids.map((id) => appliedByRegion(doc, id)),
    members: members(doc),
    pauses: has.pauses === undefined ? [] : pauseRecords(doc).sort((a, b) => a.token.localeCompare(b.token)),
    resumes: has.resumed === undefined ? [] : resumeHints(doc),
  };
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("the federation state of every schema shipped", () => {
  for (const { schema, commit } of SHIPPED) {
    it(`migrates schema ${String(schema)}, as ${commit.slice(0, 7)} wrote it, keeping every record and spec`, async () => {
      const tree = await releaseTree(commit);
      const dir = await mkdtemp(join(tmpdir(), `dsc-schema-${String(schema)}-`));
      dirs.push(dir);
      await run(process.execPath, ["--input-type=module", "-e", writer(tree), dir, String(schema)], {
        cwd: tree,
      });
      const files = await readdir(dir);
      // As the old release stored it: a log of changes on its genesis (it never compacted, at this size).
      const snapshot = await readFile(join(dir, "state.snapshot")).catch(() => legacyGenesis(schema));
      const old = A.load<StateDoc>(Buffer.concat([snapshot, ...(await oldLog(dir))]));
      expect(old.schema).toBe(schema);
      const oldSpecs = Object.values(
        (old as unknown as { specs: Record<string, Record<string, boolean>> }).specs,
      )
        .flatMap((bucket) => Object.keys(bucket))
        .map((key) => [key.slice(0, key.indexOf(" ")), key.slice(key.indexOf(" ") + 1)] as const);
      expect(oldSpecs).toHaveLength(3);

      const opened = await StateStore.open(dir);
      await opened.store.close();
      expect(opened.migrated).toEqual({ from: schema, dropped: 0 });
      expect(opened.doc.schema).toBe(3);
      expect(epochOf(opened.doc)).toBe(0);
      expect(reads(opened.doc)).toEqual(reads(old));
      // Schema 2's release deleted the pause record a resume lifted; the resume record stays.
      expect([reads(opened.doc).pauses.length, reads(opened.doc).resumes.length]).toEqual(
        schema >= 2 ? [1, 1] : [0, 0],
      );
      // Kept aside, unchecked: no reader sees one until the exchange has checked it against its digest.
      for (const [digest, json] of oldSpecs) {
        expect(await opened.specs.unchecked(digest)).toBe(json);
        expect(await opened.specs.get(digest)).toBeUndefined();
      }
      expect(JSON.stringify(opened.doc)).not.toContain("ConfigMap");
      // The old state, whole, to roll back to; the new one loads as it is from now on.
      expect(A.load<StateDoc>(await readFile(join(dir, PREVIOUS))).schema).toBe(schema);
      expect(files).not.toContain(PREVIOUS);
      const again = await StateStore.open(dir);
      await again.store.close();
      expect(again.migrated).toBeUndefined();
      expect(reads(again.doc)).toEqual(reads(old));
    }, 300_000);
  }
});

/** The old log's records, read with this release's framing (unchanged since schema 1). */
async function oldLog(dir: string): Promise<Uint8Array[]> {
  return unframe(await readFile(join(dir, "state.log")).catch(() => Buffer.alloc(0))).records;
}
