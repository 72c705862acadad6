// A new epoch of the federation document: its own genesis, shared by every
// region, then one change of this region's that carries the live records over.
//
// Why: Automerge keeps every operation for good, so a document whose records
// are replaced forever grows forever, and deleting keys does not shrink it
// (automerge/automerge#348: "coordinate a total document reset"). A rebase is
// that reset without coordination. Regions rebase on their own, each to the
// next epoch, each carrying what it holds; their carries merge as any
// concurrent writes do, because every record is a key of a set and one
// region's outcome is read as its latest (readers.ts). What a region had not
// yet received when it rebased reaches the new epoch with the region that
// wrote it, which carries it when it follows. What one carry brings back that
// another collected is collected again at the next rebase.
import * as A from "@automerge/automerge";
import type { Collectable } from "./collect.ts";
import { members } from "./readers.ts";
import { allBuckets, epochOf, genesis, loadState, type FederationDoc, type StateDoc } from "./document.ts";

/** Copies the entries of a bucketed map that `keep` admits. */
function carryBuckets<V extends number | boolean>(
  from: Record<string, Record<string, V>>,
  to: Record<string, Record<string, V>>,
  keep: (key: string) => boolean,
): void {
  for (const b of allBuckets()) {
    const source = from[b];
    const target = to[b];
    if (source === undefined || target === undefined) continue;
    for (const [key, value] of Object.entries(source)) if (keep(key)) target[key] = value;
  }
}

/** `doc`'s live records, less `drop`, as epoch `epoch`'s first change by `actor`. */
export function rebased(
  doc: StateDoc,
  epoch: number,
  actor: string,
  drop: Collectable,
  at?: number,
): StateDoc {
  if (!(epoch > epochOf(doc))) {
    throw new RangeError(`cannot rebase epoch ${String(epochOf(doc))} to ${String(epoch)}: epochs only grow`);
  }
  const next = loadState(genesis(epoch), actor);
  const time = at === undefined ? undefined : Math.floor(at / 1000);
  return A.change(
    next,
    { time, message: `rebase from epoch ${String(epochOf(doc))}` },
    (d: FederationDoc) => {
      carryBuckets(doc.versions, d.versions, (key) => !drop.versions.has(key));
      carryBuckets(doc.approvals, d.approvals, (key) => !drop.approvals.has(key.slice(0, key.indexOf(" "))));
      carryBuckets(doc.applied, d.applied, (key) => !drop.applied.has(key));
      // A member record a peer left incomplete is not carried: members are replaced whole.
      for (const m of members(doc)) {
        d.members[m.region] = {
          dsp: new A.ImmutableString(m.dsp),
          safe: new A.ImmutableString(m.safe),
          endpoint: new A.ImmutableString(m.endpoint),
          fingerprint: new A.ImmutableString(m.fingerprint),
        };
      }
      Object.assign(d.pauses, doc.pauses);
      Object.assign(d.resumed, doc.resumed);
    },
  );
}

/** Every digest the document names: the specs a region must keep. */
export function referencedDigests(doc: StateDoc): Set<string> {
  const digests = new Set<string>();
  for (const b of allBuckets()) {
    for (const key of Object.keys(doc.versions[b] ?? {})) digests.add(key.split(" ")[2] ?? "");
    for (const key of Object.keys(doc.applied[b] ?? {})) digests.add(key.split(" ")[3] ?? "");
  }
  digests.delete("");
  return digests;
}
