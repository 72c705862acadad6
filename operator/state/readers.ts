// Reading the federation document as plain values. Every reader is a pure
// function of the document; none of them writes.
import * as A from "@automerge/automerge";
import {
  allBuckets,
  bucketOf,
  readApplied,
  readApproval,
  readPause,
  readVersion,
  words,
  type StateDoc,
} from "./document.ts";
import type { AppliedState, Approval, ManifestVersion, Member, PauseRecord } from "./model.ts";

const firstWord = (key: string): string => key.slice(0, key.indexOf(" "));

/** Code-unit order: the same in every region, whatever its locale. */
const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Entries of one bucket whose key starts with the words `prefix`. */
function prefixed<V>(bucket: Record<string, V> | undefined, prefix: string): [string, V][] {
  if (bucket === undefined) return [];
  const start = `${prefix} `;
  return Object.entries(bucket).filter(([key]) => key.startsWith(start));
}

export function manifestIds(doc: StateDoc): string[] {
  const ids = new Set<string>();
  for (const b of allBuckets()) {
    for (const key of Object.keys(doc.versions[b] ?? {})) ids.add(firstWord(key));
  }
  return [...ids].sort(byText);
}

/** Every version record's manifest and digest (a scan of the document: for building an index once). */
export function allVersions(doc: StateDoc): { readonly id: string; readonly digest: string }[] {
  return allBuckets().flatMap((b) =>
    Object.keys(doc.versions[b] ?? {}).map((key) => {
      const { id, digest } = readVersion(key, 0);
      return { id, digest };
    }),
  );
}

/** Highest nonce first; one nonce's digests in ascending order. */
const byPrecedence = (a: ManifestVersion, b: ManifestVersion): number =>
  b.nonce - a.nonce || byText(a.digest, b.digest);

/** The versions of an id; one submitted in several regions is listed once, as first submitted. */
export function versions(doc: StateDoc, id: string): ManifestVersion[] {
  const first = new Map<string, ManifestVersion>();
  for (const [key, at] of prefixed(doc.versions[bucketOf(id)], id)) {
    const v = readVersion(key, at);
    const seen = first.get(words(v.nonce, v.digest));
    if (seen === undefined || v.submittedAt < seen.submittedAt) first.set(words(v.nonce, v.digest), v);
  }
  return [...first.values()].sort(byPrecedence);
}

/** How many version records (one per submitting region per version) `id` has. */
export const versionRecords = (doc: StateDoc, id: string): number =>
  prefixed(doc.versions[bucketOf(id)], id).length;

/**
 * The version every region converges on: the highest nonce among the digests
 * the caller has verified itself (a peer's word is never enough); two digests
 * with one nonce go to the lowest digest, so the choice needs no clock and no
 * coordination.
 */
export function winner(
  doc: StateDoc,
  id: string,
  isVerified: (digest: string) => boolean,
): ManifestVersion | undefined {
  return versions(doc, id).find((v) => isVerified(v.digest));
}

export function approvals(doc: StateDoc, digest: string): Approval[] {
  const d = digest.toLowerCase();
  return prefixed(doc.approvals[bucketOf(d)], d)
    .map(([key]) => readApproval(key))
    .sort((a, b) => byText(a.safe, b.safe) || byText(a.data, b.data));
}

/**
 * Each region's state for an id. A region keeps one entry per id; two can
 * exist only after a restart lost an unstored write, and then the later wins.
 */
export function appliedByRegion(doc: StateDoc, id: string): AppliedState[] {
  const latest = new Map<string, AppliedState>();
  for (const [key, at] of prefixed(doc.applied[bucketOf(id)], id)) {
    const a = readApplied(key, at);
    const seen = latest.get(a.region);
    if (seen === undefined || a.at > seen.at) latest.set(a.region, a);
  }
  return [...latest.values()].sort((a, b) => byText(a.region, b.region));
}

/**
 * The highest nonce `region` applied for `id`, kept in the state beside its
 * current outcome (transitions.ts), so it outlives the CR's status.
 */
export function highestApplied(doc: StateDoc, id: string, region: string): AppliedState | undefined {
  let highest: AppliedState | undefined;
  for (const [key, at] of prefixed(doc.applied[bucketOf(id)], words(id, region))) {
    const a = readApplied(key, at);
    if (a.region === region && a.state === "Applied" && (!highest || a.nonce > highest.nonce)) highest = a;
  }
  return highest;
}

export function appliedIn(doc: StateDoc, id: string, region: string): AppliedState | undefined {
  return appliedByRegion(doc, id).find((a) => a.region === region);
}

/** The members whose records are whole (a peer's change may leave one without a field). */
export function members(doc: StateDoc): Member[] {
  const text = (field: unknown): string | undefined =>
    field instanceof A.ImmutableString ? field.val : undefined;
  return Object.entries(doc.members)
    .flatMap(([region, m]) => {
      const [dsp, safe, endpoint, fingerprint] = [m.dsp, m.safe, m.endpoint, m.fingerprint].map(text);
      return dsp === undefined || safe === undefined || endpoint === undefined || fingerprint === undefined
        ? []
        : [{ region, dsp, safe, endpoint, fingerprint }];
    })
    .sort((a, b) => byText(a.region, b.region));
}

/** A pause in force: its token, the first region's record of it, and every region that recorded it. */
export interface ActivePause extends PauseRecord {
  readonly regions: readonly string[];
}

/** Every pause record in the document. */
export function pauseRecords(doc: StateDoc): PauseRecord[] {
  return Object.entries(doc.pauses).map(([key, at]) => readPause(key, at));
}

/**
 * The pauses in force among `records` for a region that has itself lifted
 * the tokens `lifted` says: oldest first, one per token, with every region
 * that recorded it. The federation is paused if any. The document's resume
 * records do not count here: any peer can write one (resumeHints).
 */
export function pausesInForce(
  records: Iterable<PauseRecord>,
  lifted: (token: string) => boolean,
): ActivePause[] {
  const byToken = new Map<string, { first: PauseRecord; regions: Set<string> }>();
  for (const p of records) {
    if (lifted(p.token)) continue;
    const seen = byToken.get(p.token);
    if (!seen) byToken.set(p.token, { first: p, regions: new Set([p.region]) });
    else {
      seen.regions.add(p.region);
      if (p.at < seen.first.at || (p.at === seen.first.at && p.region < seen.first.region)) seen.first = p;
    }
  }
  return [...byToken.values()]
    .map(({ first, regions }) => ({ ...first, regions: [...regions].sort(byText) }))
    .sort((a, b) => a.at - b.at || byText(a.token, b.token));
}

/** A region's word that a resume manifest lifted a token: a hint to verify that manifest, never a lift. */
export interface ResumeHint {
  readonly token: string;
  readonly manifest: string;
  readonly region: string;
}

export function resumeHints(doc: StateDoc): ResumeHint[] {
  return Object.keys(doc.resumed).map((key) => {
    const [token = "", manifest = "", region = ""] = key.split(" ");
    return { token, manifest, region };
  });
}

/** Whether the document holds a pause record of this token. */
export function recordedPauseToken(doc: StateDoc, token: string): boolean {
  const start = `${token} `;
  return Object.keys(doc.pauses).some((k) => k.startsWith(start));
}
