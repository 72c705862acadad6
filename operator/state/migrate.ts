// Federation state of an older schema, brought to this one at start: the
// records carried into a fresh document of this schema (as a rebase carries
// them into a new epoch, rebase.ts), and the specs the old document held in
// itself handed back for the spec store.
//
// Schema 1 (the first release with replication) and schema 2 (which added
// pauses and resume records) kept each spec in the document, as a key
// "<digest> <canonical JSON>" of a `specs` map; schema 3 keeps them beside
// it. Every other record has had the same keys and values since schema 1.
//
// Records are checked as a peer's would be (validate.ts): an old document is
// the sum of what peers sent before any such check existed, and what a region
// carries it passes on. A record that fails is left behind, not the migration.
import * as A from "@automerge/automerge";
import {
  allBuckets,
  bucketOf,
  genesis,
  loadState,
  SCHEMA,
  type FederationDoc,
  type StateDoc,
} from "./document.ts";
import { layoutViolation } from "./validate.ts";

const DIGEST = /^0x[0-9a-f]{64}$/;

/** The schemas this release migrates from. */
export const MIGRATES_FROM: readonly number[] = [1, 2];

/**
 * Schema 1's and 2's first change, as their releases made it (fixed actor, no time): a store
 * that never compacted holds only a log of changes that depend on it.
 */
export function legacyGenesis(schema: 1 | 2): Uint8Array {
  const doc = A.change(A.init<Record<string, unknown>>({ actor: "00" }), { time: undefined }, (d) => {
    d.schema = schema;
    for (const name of ["versions", "specs", "approvals", "applied"]) {
      const buckets: Record<string, object> = {};
      d[name] = buckets;
      for (const b of allBuckets()) (d[name] as Record<string, object>)[b] = {};
    }
    d.members = {};
    if (schema === 2) {
      d.pauses = {};
      d.resumed = {};
    }
  });
  return A.save(doc);
}

export interface Migrated {
  readonly from: number;
  readonly doc: StateDoc;
  /** digest -> spec JSON, for the digests whose spec the old document held once (two are a conflict: neither). */
  readonly specs: ReadonlyMap<string, string>;
  /** Records left behind because they break this schema's layout. */
  readonly dropped: number;
}

type OldBuckets = Record<string, Record<string, unknown> | undefined>;

interface OldDoc {
  readonly schema?: unknown;
  readonly versions?: OldBuckets;
  readonly specs?: OldBuckets;
  readonly approvals?: OldBuckets;
  readonly applied?: OldBuckets;
  readonly members?: Record<string, Record<string, unknown> | undefined>;
  readonly pauses?: Record<string, unknown>;
  readonly resumed?: Record<string, unknown>;
}

/** A loaded document of an older schema, migrated (`actor` makes the carry); undefined at this schema. */
export function migrate(loaded: A.Doc<object>, actor: string): Migrated | undefined {
  const old = loaded as OldDoc;
  if (old.schema === SCHEMA) return undefined;
  const from = old.schema;
  if (typeof from !== "number" || !MIGRATES_FROM.includes(from)) {
    throw new Error(
      `federation state has schema ${JSON.stringify(from)}: this operator reads ${String(SCHEMA)} and migrates ${MIGRATES_FROM.join(" and ")}`,
    );
  }
  let dropped = 0;
  const fits = (path: (string | number)[], value: unknown): boolean => {
    const ok = layoutViolation([{ action: "put", path, value } as unknown as A.Patch]) === undefined;
    if (!ok) dropped++;
    return ok;
  };
  const doc = A.change(
    loadState(genesis(0), actor),
    { message: `migrated from schema ${String(from)}` },
    (d) => {
      const carry = (name: "versions" | "approvals" | "applied", target: FederationDoc[typeof name]) => {
        for (const b of allBuckets()) {
          for (const [key, value] of Object.entries(old[name]?.[b] ?? {})) {
            const bucket = target[b];
            // A record in another bucket than its key's would never be found: left behind.
            const home = bucketOf(key.slice(0, key.indexOf(" "))) === b;
            if (!home) dropped++;
            else if (bucket && fits([name, b, key], value)) (bucket as Record<string, unknown>)[key] = value;
          }
        }
      };
      carry("versions", d.versions);
      carry("approvals", d.approvals);
      carry("applied", d.applied);
      for (const [region, m] of Object.entries(old.members ?? {})) {
        const fields = ["dsp", "safe", "endpoint", "fingerprint"] as const;
        const values = fields.map((f) => {
          const v = m?.[f];
          return v instanceof A.ImmutableString ? v.val : undefined;
        });
        if (values.some((v) => v === undefined)) {
          dropped++;
          continue;
        }
        const [dsp = "", safe = "", endpoint = "", fingerprint = ""] = values;
        d.members[region] = {
          dsp: new A.ImmutableString(dsp),
          safe: new A.ImmutableString(safe),
          endpoint: new A.ImmutableString(endpoint),
          fingerprint: new A.ImmutableString(fingerprint),
        };
      }
      for (const [key, value] of Object.entries(old.pauses ?? {}))
        if (fits(["pauses", key], value)) d.pauses[key] = value as number;
      for (const [key, value] of Object.entries(old.resumed ?? {}))
        if (fits(["resumed", key], value)) d.resumed[key] = value as number;
    },
  );
  const specs = new Map<string, string>();
  const conflicted = new Set<string>();
  for (const b of allBuckets()) {
    for (const key of Object.keys(old.specs?.[b] ?? {})) {
      const at = key.indexOf(" ");
      const digest = key.slice(0, at).toLowerCase();
      const json = key.slice(at + 1);
      if (at < 0 || !DIGEST.test(digest)) {
        dropped++;
        continue;
      }
      if (conflicted.has(digest)) continue;
      if (specs.has(digest) && specs.get(digest) !== json) {
        specs.delete(digest);
        conflicted.add(digest);
      } else specs.set(digest, json);
    }
  }
  return { from, doc, specs, dropped };
}
