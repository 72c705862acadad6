// A checkpoint of this region's own log that a peer gossips back: if it is
// signed with this log's key but is not this log's tree at that size, the
// key signed something this region never did (a stolen key, a forged
// checkpoint): a split view, with this region's true checkpoint beside it.
import { formatCheckpoint, parseCheckpoint } from "../core/tlog/checkpoint.ts";
import { sameHash } from "../core/tlog/merkle.ts";
import {
  formatNote,
  parseNote,
  signNote,
  verifyNote,
  type Signer,
  type Verifier,
} from "../core/tlog/note.ts";
import type { SplitView } from "../core/tlog/witness.ts";
import type { TileLog } from "../tlog/tile-log.ts";

export async function checkOwnCheckpoint(
  note: string,
  log: TileLog,
  keys: { readonly signer: Signer; readonly verifier: Verifier },
): Promise<SplitView | undefined> {
  const parsed = parseNote(note);
  const seen = parseCheckpoint(parsed.text);
  if (seen.origin !== log.checkpoint.origin) return undefined;
  // This log's latest checkpoint, gossiped back (nearly all gossip), needs no signature check:
  // it claims nothing false. Any other must verify under this log's key first, before it costs
  // a tree hash from tiles on disk, and before it can be evidence.
  if (seen.size === log.size && sameHash(log.checkpoint.root, seen.root)) return undefined;
  verifyNote(parsed, [keys.verifier]);
  if (seen.size > log.size) {
    // Signed by this log's key, for a size it never reached: nothing true can match it.
    return {
      kind: "root_mismatch",
      origin: seen.origin,
      size: seen.size,
      checkpoints: [log.checkpoint.note, note],
    };
  }
  const root = await log.rootAt(seen.size);
  if (sameHash(root, seen.root)) return undefined;
  const truth = formatNote(
    signNote({ text: formatCheckpoint({ origin: seen.origin, size: seen.size, root }), signatures: [] }, [
      keys.signer,
    ]),
  );
  return { kind: "root_mismatch", origin: seen.origin, size: seen.size, checkpoints: [truth, note] };
}
