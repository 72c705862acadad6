// What of a Federation's status moves all the time (the chain's block, when a
// peer was last heard, how far each log has grown) and what moves only when
// something happens (a condition, a peer connecting, a pause, an anchor found
// invalid). A pass that changes only the first is written at most every few
// seconds; anything else is written at once. Statuses are compared as text
// with keys sorted, so the order the API server returns keys in is no change.
import type { FederationStatus } from "../api/v1alpha1/federation.ts";
import { sortedJson } from "../kube/object.ts";
import { withoutPauseFields } from "./status-owners.ts";

/** Fields that only move (block, read time, heard time, RTT, sizes) are refreshed at most this often. */
export const VOLATILE_REFRESH_MS = 5000;

/**
 * The status without what only moves, as canonical text: equal texts mean nothing happened.
 * status.guardian and the Paused condition are not the Federation controller's to write
 * (status-owners.ts) and are left out.
 */
export function settledText(status: FederationStatus | undefined): string {
  if (!status) return "";
  const log = status.log;
  return sortedJson({
    ...withoutPauseFields(status),
    chain: status.chain && { ...status.chain, block: undefined, readAt: undefined },
    peers: status.peers?.map((p) => ({
      ...p,
      lastHeard: undefined,
      rttMilliseconds: undefined,
      changesPending: undefined,
    })),
    document: status.document && { ...status.document, bytes: undefined, manifests: undefined },
    log: log && {
      ...log,
      size: undefined,
      root: undefined,
      cosignedBy: log.cosignedBy?.map((c) => ({ region: c.region })),
      witnessed: log.witnessed?.map((w) => ({ region: w.region })),
      mirrored: log.mirrored?.map((m) => ({ region: m.region })),
      anchored: log.anchored?.map((a) => ({ region: a.region, state: a.state })),
      trusted: log.trusted?.map((t) => ({ ...t, size: undefined, at: undefined, cosigned: undefined })),
    },
  });
}
