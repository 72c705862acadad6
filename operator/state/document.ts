// The shape of the replicated federation document and how replicas start it.
//
// Cost rules (REFERENCE.md, "Automerge"): a map that keeps growing makes every
// change slower, so each large map is split into 256 buckets by the first byte
// of a hash of its key; ids, hashes and JSON are ImmutableStrings (a plain
// string becomes Text, one op per character).
//
// Records that are written whole (a version, a region's applied state) are one
// ImmutableString of space-separated words rather than a map of fields: one op
// instead of five, and load time and memory follow the op count.
//
// Merge rule: a nested map created concurrently at one key by two replicas is
// a conflict in which one map, with everything written inside it, loses. So
// every map below the buckets is either written by one region only or holds
// values that are identical whichever copy wins; keys are flat
// ("<id> <nonce> <digest>") rather than nested per id, because two regions
// may well create the first entry for one id at the same time.
import { createHash, randomBytes } from "node:crypto";
import * as A from "@automerge/automerge";
import type { AppliedState, ManifestVersion, RegionState } from "./model.ts";

export interface MemberRecord {
  dsp: A.ImmutableString;
  safe: A.ImmutableString;
  endpoint: A.ImmutableString;
  fingerprint: A.ImmutableString;
}

/** bucket ("00".."ff") -> key -> value */
export type Buckets<V> = Record<string, Record<string, V>>;

export interface FederationDoc {
  schema: number;
  /** bucket(id) -> "<id> <nonce> <digest>" -> "<region> <submittedAt>"; small, read on every reconcile. */
  versions: Buckets<A.ImmutableString>;
  /** bucket(digest) -> digest -> canonical spec JSON; bulky, read only to apply. */
  specs: Buckets<A.ImmutableString>;
  /** bucket(digest) -> "<digest> <safe> <hash of data>" -> signature data (hex). */
  approvals: Buckets<A.ImmutableString>;
  /** bucket(id) -> "<id> <region>" -> "<nonce> <digest> <state> <at>"; written by that region only. */
  applied: Buckets<A.ImmutableString>;
  /** region -> member; replaced whole, never edited field by field. */
  members: Record<string, MemberRecord>;
}

export type StateDoc = A.Doc<FederationDoc>;

export const SCHEMA = 1;
const BUCKETED = ["versions", "specs", "approvals", "applied"] as const;
const BUCKETS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export const bucketOf = (key: string): string =>
  createHash("sha256").update(key).digest().subarray(0, 1).toString("hex");

export const allBuckets = (): readonly string[] => BUCKETS;

/** Keys and records join words with a space: no id, nonce, digest, region, state or Safe name contains one. */
export const words = (...parts: readonly (string | number)[]): string => parts.join(" ");

export const versionKey = (v: ManifestVersion): string => words(v.id, v.nonce, v.digest);

export const versionValue = (v: ManifestVersion): A.ImmutableString =>
  new A.ImmutableString(words(v.region, v.submittedAt));

export function readVersion(id: string, key: string, value: A.ImmutableString): ManifestVersion {
  const [, nonce = "", digest = ""] = key.split(" ");
  const [region = "", submittedAt = ""] = value.val.split(" ");
  return { id, nonce: Number(nonce), digest, region, submittedAt: Number(submittedAt) };
}

export const appliedValue = (a: AppliedState): A.ImmutableString =>
  new A.ImmutableString(words(a.nonce, a.digest, a.state, a.at));

export function readApplied(region: string, value: A.ImmutableString): AppliedState {
  const [nonce = "", digest = "", state = "", at = ""] = value.val.split(" ");
  return { region, nonce: Number(nonce), digest, state: state as RegionState, at: Number(at) };
}

/**
 * The first change, identical on every replica (fixed actor, no timestamp), so
 * replicas that never met share the bucket maps instead of conflicting on them.
 */
function genesisBytes(): Uint8Array {
  const doc = A.change(A.init<FederationDoc>({ actor: "00" }), { time: undefined }, (d) => {
    d.schema = SCHEMA;
    for (const name of BUCKETED) {
      d[name] = {};
      for (const b of BUCKETS) d[name][b] = {};
    }
    d.members = {};
  });
  return A.save(doc);
}

const GENESIS = genesisBytes();

/**
 * A random actor id, to be taken at every process start. Reusing an actor
 * after restoring an older snapshot (or after losing unpersisted changes that
 * peers already received) makes the next change repeat a sequence number
 * peers hold with other content: Automerge refuses it ("duplicate seq").
 */
export const freshActor = (): string => randomBytes(16).toString("hex");

export const createState = (actor: string): StateDoc => A.load<FederationDoc>(GENESIS, { actor });

export function loadState(snapshot: Uint8Array, actor: string): StateDoc {
  const doc = A.load<FederationDoc>(snapshot, { actor });
  if (doc.schema !== SCHEMA) {
    throw new Error(`federation state has schema ${String(doc.schema)}, this operator reads ${SCHEMA}`);
  }
  return doc;
}
