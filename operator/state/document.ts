// The shape of the replicated federation document and how replicas start it.
//
// Cost rules (measured on Automerge 3.5.0):
// - A map that keeps growing makes every change slower, so each large map is
//   split into 256 buckets by the first byte of a hash of its key.
// - Every string lives in a map KEY; values are numbers or booleans. Applying
//   remote changes costs time and memory in proportion to the bytes of string
//   values already in the document: merging 1,000 manifests into 5,000 took
//   7 s and 1.6 GB with signatures and states as string values, and 2,000 into
//   10,000 ran the wasm out of memory; with the same strings in keys, 0.3 s.
//   Plain strings would be worse still (Text, an op per character).
//
// Merge rule: a nested map created concurrently at one key by two replicas is
// a conflict in which one map, with everything written inside it, loses. Keys
// are flat ("<id> <nonce> <digest> <region>") rather than nested per id, and
// a record that changes (a region's applied state) is a new key plus deletes
// of that region's older keys: no two regions ever write one key, and a
// bogus entry (a wrong spec for a digest) sits beside the right one instead of
// replacing it.
import { createHash, randomBytes } from "node:crypto";
import * as A from "@automerge/automerge";
import type {
  AppliedState,
  ManifestVersion,
  PauseRecord,
  PauseSource,
  RegionState,
  SignedSafe,
} from "./model.ts";

interface MemberRecord {
  dsp: A.ImmutableString;
  safe: A.ImmutableString;
  endpoint: A.ImmutableString;
  fingerprint: A.ImmutableString;
}

/** bucket ("00".."ff") -> key -> value */
export type Buckets<V> = Record<string, Record<string, V>>;

export interface FederationDoc {
  schema: number;
  /**
   * Which history this is (epoch.ts): a rebase starts a new document, with
   * only the live records, when the history has grown. Absent in epoch 0,
   * whose genesis predates it.
   */
  epoch?: number;
  /** bucket(id) -> "<id> <nonce> <digest> <region>" -> submittedAt (ms). */
  versions: Buckets<number>;
  /** bucket(digest) -> "<digest> <safe> <signature hex>" -> true. */
  approvals: Buckets<boolean>;
  /** bucket(id) -> "<id> <region> <nonce> <digest> <state>" -> since (ms); written by that region only. */
  applied: Buckets<number>;
  /** region -> member; a handful of entries, replaced whole, never edited field by field. */
  members: Record<string, MemberRecord>;
  /**
   * "<token> <region> <source> <by> <dsp> <severity> <evidence> <reason>" -> at (ms).
   * A pause is a unique token, and a resume lifts only the tokens it names,
   * so a pause wins over any resume that did not name it: a plain boolean
   * would lose a concurrent re-pause to a resume.
   */
  pauses: Record<string, number>;
  /** "<token> <resume manifest id> <region>" -> at (ms): tokens lifted, kept for good (replays stay refused). */
  resumed: Record<string, number>;
}

export type StateDoc = A.Doc<FederationDoc>;

export const SCHEMA = 3;
const BUCKETED = ["versions", "approvals", "applied"] as const;
const BUCKETS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export const bucketOf = (key: string): string =>
  createHash("sha256").update(key).digest().subarray(0, 1).toString("hex");

export const allBuckets = (): readonly string[] => BUCKETS;

/** Keys join words with a space; no id, nonce, digest, region, state, Safe name or hex contains one. */
export const words = (...parts: readonly (string | number)[]): string => parts.join(" ");

export const versionKey = (v: ManifestVersion): string => words(v.id, v.nonce, v.digest, v.region);

export function readVersion(key: string, submittedAt: number): ManifestVersion {
  const [id = "", nonce = "", digest = "", region = ""] = key.split(" ");
  return { id, nonce: Number(nonce), digest, region, submittedAt };
}

export const appliedKey = (id: string, a: Omit<AppliedState, "at">): string =>
  words(id, a.region, a.nonce, a.digest, a.state);

export function readApplied(key: string, at: number): AppliedState {
  const [, region = "", nonce = "", digest = "", state = ""] = key.split(" ");
  return { region, nonce: Number(nonce), digest, state: state as RegionState, at };
}

export const approvalKey = (digest: string, safe: SignedSafe, data: string): string =>
  words(digest, safe, data);

export function readApproval(key: string): { safe: SignedSafe; data: string } {
  const [, safe = "", data = ""] = key.split(" ");
  return { safe: safe as SignedSafe, data };
}

export const pauseKey = (p: Omit<PauseRecord, "at">): string =>
  `${words(p.token, p.region, p.source, p.by, p.dsp, p.severity, p.evidence)} ${p.reason}`;

export function readPause(key: string, at: number): PauseRecord {
  const [token = "", region = "", source = "", by = "", dsp = "", severity = "", evidence = ""] = key.split(
    " ",
    7,
  );
  const reason = key.split(" ").slice(7).join(" ");
  return { token, region, source: source as PauseSource, by, dsp, severity, evidence, reason, at };
}

export const resumedKey = (token: string, manifest: string, region: string): string =>
  words(token, manifest, region);

/**
 * The first change, identical on every replica (fixed actor, no timestamp), so
 * replicas that never met share the bucket maps instead of conflicting on them.
 * Each epoch has its own: regions that rebase apart still share it.
 */
function genesisBytes(epoch: number): Uint8Array {
  const doc = A.change(A.init<FederationDoc>({ actor: "00" }), { time: undefined }, (d) => {
    d.schema = SCHEMA;
    if (epoch > 0) d.epoch = epoch;
    for (const name of BUCKETED) {
      d[name] = {};
      for (const b of BUCKETS) d[name][b] = {};
    }
    d.members = {};
    d.pauses = {};
    d.resumed = {};
  });
  return A.save(doc);
}

const GENESIS = genesisBytes(0);
let latest: { epoch: number; bytes: Uint8Array } = { epoch: 0, bytes: GENESIS };

/** A new replica's starting bytes, for `loadState` when nothing is stored yet; or an epoch's. */
export function genesis(epoch = 0): Uint8Array {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`epoch ${String(epoch)}`);
  if (latest.epoch !== epoch) latest = { epoch, bytes: genesisBytes(epoch) };
  return latest.bytes;
}

/** The document's epoch: 0 for one that was never rebased. */
export const epochOf = (doc: StateDoc): number => doc.epoch ?? 0;

/**
 * A random actor id, to be taken at every process start. Reusing an actor
 * after restoring an older snapshot (or after losing unpersisted changes that
 * peers already received) makes the next change repeat a sequence number
 * peers hold with other content: Automerge refuses it ("duplicate seq").
 */
export const freshActor = (): string => randomBytes(16).toString("hex");

export const createState = (actor: string): StateDoc => loadState(GENESIS, actor);

/** `bytes`: a saved document, optionally followed by saved changes (a log); one load is the fast path. */
export function loadState(bytes: Uint8Array, actor: string): StateDoc {
  return checkedState(A.load<FederationDoc>(bytes, { actor }));
}

/** A loaded document, if it is of this schema and a sound epoch; otherwise an error saying which. */
export function checkedState(doc: StateDoc): StateDoc {
  if (doc.schema !== SCHEMA) {
    throw new Error(`federation state has schema ${String(doc.schema)}, this operator reads ${SCHEMA}`);
  }
  if (doc.epoch !== undefined && !(Number.isSafeInteger(doc.epoch) && doc.epoch > 0)) {
    throw new Error(`federation state has epoch ${JSON.stringify(doc.epoch)}, not a positive integer`);
  }
  return doc;
}
