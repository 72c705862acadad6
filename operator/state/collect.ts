// Which records of the federation document no region needs any more: a pure
// function of the document, what this region knows of each version's spec,
// and the time. A rebase (rebase.ts) leaves them out of the next epoch; a
// record that comes back from a region that rebased without knowing better is
// collected again at the next rebase.
//
// A version is collected once no region names it (neither as its current
// outcome nor as the highest it applied: replay protection lives in those
// records, which stay) and either every region its spec targets has recorded
// an outcome for a newer version, or its approvals have expired so it can
// never be applied. A version whose spec no region holds any more (its targets
// unknown) is collected only once every region of the federation has moved
// past it. Approvals go with the last version of their digest.
//
// Outcome records are only as honest as the region that wrote them, and a
// peer can write one in another region's name: so a newer outcome counts only
// if it names a version the document holds, whose spec this region holds too,
// and a version this region runs itself (`pinned`, read from its own
// manifests, which no peer can write) is never collected.
import { allBuckets, readApplied, readVersion, words, type StateDoc } from "./document.ts";
import type { AppliedState } from "./model.ts";

/** What a version's spec says that collection needs. */
export interface VersionFacts {
  readonly targets: readonly string[];
  /** ms; approvals are refused after it. */
  readonly expiresAt: number;
}

export interface Collectable {
  /** Keys of the versions map. */
  readonly versions: ReadonlySet<string>;
  /** Digests whose approvals all go. */
  readonly approvals: ReadonlySet<string>;
  /** Keys of the applied map no reader uses: neither a region's latest outcome nor the highest it applied. */
  readonly applied: ReadonlySet<string>;
}

/** Per id and region: the latest outcome (what appliedByRegion reads) and the highest applied (highestApplied). */
function namedRecords(doc: StateDoc): { byId: Map<string, AppliedState[]>; unused: Set<string> } {
  const byId = new Map<string, AppliedState[]>();
  const unused = new Set<string>();
  for (const b of allBuckets()) {
    const latest = new Map<string, { key: string; a: AppliedState }>();
    const highest = new Map<string, { key: string; a: AppliedState }>();
    for (const [key, at] of Object.entries(doc.applied[b] ?? {})) {
      const id = key.slice(0, key.indexOf(" "));
      const a = readApplied(key, at);
      const owner = words(id, a.region);
      const l = latest.get(owner);
      if (l === undefined || a.at > l.a.at) latest.set(owner, { key, a });
      const h = highest.get(owner);
      if (a.state === "Applied" && (h === undefined || a.nonce > h.a.nonce)) highest.set(owner, { key, a });
      unused.add(key);
    }
    for (const [owner, { key, a }] of [...latest, ...highest]) {
      unused.delete(key);
      const id = owner.slice(0, owner.indexOf(" "));
      byId.set(id, [...(byId.get(id) ?? []), a]);
    }
  }
  return { byId, unused };
}

export function collectable(
  doc: StateDoc,
  facts: (digest: string) => VersionFacts | undefined,
  now: number,
  pinned: ReadonlySet<string> = new Set(),
  /** Every region of the federation: the targets of a version whose spec is not held. */
  regions: readonly string[] = [],
): Collectable {
  const { byId, unused } = namedRecords(doc);
  const held = new Set<string>();
  for (const b of allBuckets()) {
    for (const key of Object.keys(doc.versions[b] ?? {})) {
      const v = readVersion(key, 0);
      if (facts(v.digest)) held.add(words(v.id, v.nonce, v.digest));
    }
  }
  const versions = new Set<string>();
  const kept = new Set<string>();
  for (const b of allBuckets()) {
    for (const key of Object.keys(doc.versions[b] ?? {})) {
      const v = readVersion(key, 0);
      const records = byId.get(v.id) ?? [];
      const named = pinned.has(v.digest) || records.some((a) => a.nonce === v.nonce && a.digest === v.digest);
      const f = facts(v.digest);
      const targets = f?.targets ?? (regions.length > 0 ? regions : undefined);
      const newer = (a: AppliedState): boolean =>
        a.nonce > v.nonce && held.has(words(v.id, a.nonce, a.digest));
      const superseded =
        !named &&
        targets !== undefined &&
        targets.every((region) => records.some((a) => a.region === region && newer(a)));
      const expired = !named && f !== undefined && f.expiresAt < now;
      if (superseded || expired) versions.add(key);
      else kept.add(v.digest);
    }
  }
  const approvals = new Set<string>();
  for (const b of allBuckets()) {
    for (const key of Object.keys(doc.approvals[b] ?? {})) {
      const digest = key.slice(0, key.indexOf(" "));
      if (!kept.has(digest)) approvals.add(digest);
    }
  }
  return { versions, approvals, applied: unused };
}
