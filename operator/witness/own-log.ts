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
  // This log's own tree at that size needs no signature check: only a checkpoint that differs
  // from it must prove it was signed with this log's key before it is evidence.
  if (seen.size <= log.size && sameHash(await log.rootAt(seen.size), seen.root)) return undefined;
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
