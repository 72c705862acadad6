// Reading the federation document as plain values. Every reader is a pure
// function of the document; none of them writes.
import { allBuckets, bucketOf, readApplied, readVersion, words, type StateDoc } from "./document.ts";
import type { AppliedState, Approval, ManifestVersion, Member, SignedSafe } from "./model.ts";

const firstWord = (key: string): string => key.slice(0, key.indexOf(" "));
const lastWord = (key: string): string => key.slice(key.lastIndexOf(" ") + 1);

/** Entries of one bucket whose key starts with `prefix` (the key's first words). */
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

/** Code-unit order: the same in every region, whatever its locale. */
const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Highest nonce first; one nonce's digests in ascending order. */
const byPrecedence = (a: ManifestVersion, b: ManifestVersion): number =>
  b.nonce - a.nonce || byText(a.digest, b.digest);

export function versions(doc: StateDoc, id: string): ManifestVersion[] {
  return prefixed(doc.versions[bucketOf(id)], id)
    .map(([key, value]) => readVersion(id, key, value))
    .sort(byPrecedence);
}

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

export function spec(doc: StateDoc, digest: string): string | undefined {
  const d = digest.toLowerCase();
  return doc.specs[bucketOf(d)]?.[d]?.val;
}

export function approvals(doc: StateDoc, digest: string): Approval[] {
  const d = digest.toLowerCase();
  return prefixed(doc.approvals[bucketOf(d)], d)
    .map(([key, data]) => ({ safe: key.split(" ")[1] as SignedSafe, data: data.val }))
    .sort((a, b) => byText(a.safe, b.safe) || byText(a.data, b.data));
}

/** Each region's state for an id, by region name. */
export function appliedByRegion(doc: StateDoc, id: string): AppliedState[] {
  return prefixed(doc.applied[bucketOf(id)], id)
    .map(([key, value]) => readApplied(lastWord(key), value))
    .sort((a, b) => byText(a.region, b.region));
}

export function appliedIn(doc: StateDoc, id: string, region: string): AppliedState | undefined {
  const value = doc.applied[bucketOf(id)]?.[words(id, region)];
  return value && readApplied(region, value);
}

export function members(doc: StateDoc): Member[] {
  return Object.entries(doc.members)
    .map(([region, m]) => ({
      region,
      dsp: m.dsp.val,
      safe: m.safe.val,
      endpoint: m.endpoint.val,
      fingerprint: m.fingerprint.val,
    }))
    .sort((a, b) => byText(a.region, b.region));
}
