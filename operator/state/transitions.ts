// State transitions: pure functions of (document, input), each one Automerge
// change. A reconcile pass should use `batch` so that all it records is ONE
// change: per-change cost dominates (bench/state.ts: 10,000 manifests build
// ~3x faster in passes of 100 than one change per write).
//
// Inputs are checked before they touch the document; a bad input throws
// StateInputError and the whole batch is rolled back.
import * as A from "@automerge/automerge";
import {
  appliedKey,
  approvalKey,
  bucketOf,
  pauseKey,
  readApplied,
  resumedKey,
  versionKey,
  words,
  type Buckets,
  type FederationDoc,
  type StateDoc,
} from "./document.ts";
import {
  checkAddress,
  checkDigest,
  checkHex,
  checkId,
  checkNonce,
  checkPauseSource,
  checkPauseToken,
  checkReason,
  checkRegion,
  checkSafe,
  checkState,
  checkTime,
  checkToken,
  type AppliedInput,
  type Approval,
  type Member,
  type PauseRecord,
  type ResumeInput,
  type ManifestVersion,
} from "./model.ts";

/** The writes a transition can make, inside one change; each returns the draft, to chain. */
export interface Draft {
  /** Records a version (its spec is stored by digest, apart: spec-store.ts); a repeat records nothing. */
  submit(version: ManifestVersion): Draft;
  /** Adds signature entries for a digest; an entry already present is not added again. */
  approve(digest: string, approvals: readonly Approval[]): Draft;
  /** A region's own state for an id. Only that region may call it: one writer per key. */
  recordApplied(applied: AppliedInput): Draft;
  setMember(member: Member): Draft;
  removeMember(region: string): Draft;
  /** Records a pause, once per token and region. Whether it is in force is each region's to judge. */
  pause(record: PauseRecord): Draft;
  /**
   * Records that this region lifted the named tokens after verifying a resume: a hint that
   * sends the other regions to verify that manifest themselves. Pause records stay.
   */
  resume(input: ResumeInput): Draft;
}

const str = (value: string): A.ImmutableString => new A.ImmutableString(value);

function bucket<V>(buckets: Buckets<V>, key: string): Record<string, V> {
  const b = buckets[bucketOf(key)];
  if (b === undefined) throw new Error(`federation state lacks the bucket for ${key}`);
  return b;
}

function writeSubmission(d: FederationDoc, s: ManifestVersion): void {
  const version = {
    id: checkId(s.id),
    nonce: checkNonce(s.nonce),
    digest: checkDigest(s.digest),
    region: checkRegion(s.region),
    submittedAt: checkTime(s.submittedAt),
  };
  bucket(d.versions, version.id)[versionKey(version)] ??= version.submittedAt;
}

function writeApprovals(d: FederationDoc, digestIn: string, approvals: readonly Approval[]): void {
  const digest = checkDigest(digestIn);
  const entries = bucket(d.approvals, digest);
  for (const a of approvals) entries[approvalKey(digest, checkSafe(a.safe), checkHex(a.data))] ??= true;
}

/**
 * Which applied keys each "<id> <region>" holds, read once per bucket per
 * batch: scanning the bucket on every write costs a pass of 300 writes ~5x
 * the time of everything else it does (measured).
 */
class OwnedKeys {
  readonly #buckets = new Map<string, Map<string, Set<string>>>();

  of(name: string, bucket: Record<string, number>, owner: string): Set<string> {
    let owners = this.#buckets.get(name);
    if (owners === undefined) {
      owners = new Map();
      for (const key of Object.keys(bucket)) {
        const [id = "", region = ""] = key.split(" ", 2);
        const k = words(id, region);
        owners.set(k, (owners.get(k) ?? new Set()).add(key));
      }
      this.#buckets.set(name, owners);
    }
    let keys = owners.get(owner);
    if (keys === undefined) owners.set(owner, (keys = new Set()));
    return keys;
  }
}

function writeApplied(d: FederationDoc, a: AppliedInput, owned: OwnedKeys): void {
  const id = checkId(a.id);
  const next = {
    region: checkRegion(a.region),
    nonce: checkNonce(a.nonce),
    digest: checkDigest(a.digest),
    state: checkState(a.state),
  };
  const at = checkTime(a.at);
  const applied = bucket(d.applied, id);
  const key = appliedKey(id, next);
  const mine = owned.of(bucketOf(id), applied, words(id, next.region));
  // The highest version the region applied stays beside its current state,
  // so an applied nonce outlives a refused newer version and a lost status.
  const kept = [...mine]
    .map((k) => ({ k, a: readApplied(k, 0) }))
    .filter(({ a }) => a.state === "Applied" && (next.state !== "Applied" || a.nonce > next.nonce))
    .sort((x, y) => y.a.nonce - x.a.nonce)[0]?.k;
  // An unchanged state keeps its time (`at` is when the region entered it),
  // so a reconcile pass that finds nothing new records nothing.
  for (const old of mine) {
    if (old === key || old === kept) continue;
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- keys are records
    delete applied[old];
    mine.delete(old);
  }
  if (!mine.has(key)) {
    applied[key] = at;
    mine.add(key);
  }
}

function writeMember(d: FederationDoc, m: Member): void {
  const region = checkRegion(m.region);
  const next = {
    dsp: m.dsp,
    safe: checkAddress(m.safe),
    endpoint: checkToken(m.endpoint, "endpoint"),
    fingerprint: checkToken(m.fingerprint, "fingerprint"),
  };
  const old = d.members[region];
  const same =
    old?.dsp.val === next.dsp &&
    old.safe.val === next.safe &&
    old.endpoint.val === next.endpoint &&
    old.fingerprint.val === next.fingerprint;
  if (same) return;
  // A fresh map each time: several regions may apply one membership
  // manifest concurrently, and then one whole record wins, never a mix.
  d.members[region] = {
    dsp: str(next.dsp),
    safe: str(next.safe),
    endpoint: str(next.endpoint),
    fingerprint: str(next.fingerprint),
  };
}

function deleteMember(d: FederationDoc, region: string): void {
  if (d.members[region] === undefined) return;
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- the map is keyed by region
  delete d.members[region];
}

function writePause(d: FederationDoc, p: PauseRecord): void {
  const record = {
    token: checkPauseToken(p.token),
    region: checkRegion(p.region),
    source: checkPauseSource(p.source),
    by: checkToken(p.by, "pause by"),
    dsp: checkToken(p.dsp, "pause dsp"),
    severity: checkToken(p.severity, "severity"),
    evidence: checkDigest(p.evidence),
    reason: checkReason(p.reason),
  };
  const at = checkTime(p.at);
  const start = `${record.token} `;
  // One record per token and region: a repeat (an alert resent) keeps the first.
  if (Object.keys(d.pauses).some((k) => k.startsWith(`${start}${record.region} `))) return;
  d.pauses[pauseKey(record)] = at;
}

function writeResume(d: FederationDoc, r: ResumeInput): void {
  const manifest = checkId(r.manifest);
  const region = checkRegion(r.region);
  const at = checkTime(r.at);
  const tokens = new Set(r.tokens.map(checkPauseToken));
  for (const token of tokens) d.resumed[resumedKey(token, manifest, region)] ??= at;
}

function draftOf(d: FederationDoc): Draft {
  const owned = new OwnedKeys();
  const draft: Draft = {
    submit(s) {
      writeSubmission(d, s);
      return draft;
    },
    approve(digest, approvals) {
      writeApprovals(d, digest, approvals);
      return draft;
    },
    recordApplied(a) {
      writeApplied(d, a, owned);
      return draft;
    },
    setMember(m) {
      writeMember(d, m);
      return draft;
    },
    removeMember(region) {
      deleteMember(d, region);
      return draft;
    },
    pause(p) {
      writePause(d, p);
      return draft;
    },
    resume(r) {
      writeResume(d, r);
      return draft;
    },
  };
  return draft;
}

/**
 * Runs several transitions as one change. `at` (ms) only stamps the change's
 * metadata; without it the change carries no time, so the result depends on
 * the inputs alone. Nothing to record returns the same document.
 */
export function batch(doc: StateDoc, edit: (draft: Draft) => unknown, at?: number): StateDoc {
  const time = at === undefined ? undefined : Math.floor(at / 1000);
  return A.change(doc, { time }, (d) => {
    edit(draftOf(d));
  });
}
