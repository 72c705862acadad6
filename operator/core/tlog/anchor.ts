// A log's checkpoint anchored on chain (contracts/LogAnchor.sol), and the
// evidence that an anchor is not a checkpoint of the log it claims to be:
// a checkpoint the log signed, at the anchored size or beyond, and a
// consistency proof from the tree at the anchored size to it. Whoever holds the
// log's public key can check that evidence without trusting the one who found it.
import { keccak256, stringToHex, type Hex } from "viem";
import { parseCheckpoint } from "./checkpoint.ts";
import {
  formatHashLines,
  parseHashLines,
  ProofError,
  sameHash,
  verifyConsistency,
  type Hash,
} from "./merkle.ts";
import { NoteError, parseNote, verifyNote, type Verifier } from "./note.ts";
import type { SplitView } from "./witness.ts";

/** A log's id on chain: the keccak-256 of its origin line. */
export const anchorLogId = (origin: string): Hex => keccak256(stringToHex(origin));

/** What the chain says a log's latest anchor is. */
export interface Anchor {
  readonly size: number;
  readonly root: Hash;
}

/** An anchored root that the log itself contradicts (the seed's `anchor_invalid`, critical). */
export interface AnchorInvalid {
  readonly kind: "anchor_invalid";
  readonly origin: string;
  readonly size: number;
  /** The root the chain holds for `size`, base64. */
  readonly anchored: string;
  /** The root the log's own tree has at `size`, base64. */
  readonly root: string;
  /** A checkpoint the log signed, at `size` or beyond. */
  readonly checkpoint: string;
  /** The consistency proof from (`size`, `root`) to `checkpoint`, one base64 hash per line. */
  readonly proof: string;
}

const b64 = (hash: Hash): string => Buffer.from(hash).toString("base64");

/**
 * Compares an anchor with the log: `note` a checkpoint the log signed (already
 * verified by the caller) of at least the anchored size, `rootAtSize` its tree's
 * root at the anchored size and `proof` the consistency proof from there to it.
 * Undefined when the anchor is a checkpoint of the log, or nothing is anchored.
 */
export function judgeAnchor(
  anchor: Anchor,
  note: string,
  rootAtSize: Hash,
  proof: readonly Hash[],
): AnchorInvalid | undefined {
  if (anchor.size === 0 || sameHash(anchor.root, rootAtSize)) return undefined;
  const checkpoint = parseCheckpoint(parseNote(note).text);
  if (checkpoint.size < anchor.size)
    throw new RangeError(
      `the checkpoint (size ${String(checkpoint.size)}) does not reach the anchored size ${String(anchor.size)}`,
    );
  return {
    kind: "anchor_invalid",
    origin: checkpoint.origin,
    size: anchor.size,
    anchored: b64(anchor.root),
    root: b64(rootAtSize),
    checkpoint: note,
    proof: formatHashLines(proof),
  };
}

/** A discrepancy of a log that pauses the federation (critical in the seeds' table). */
export type LogDiscrepancy = SplitView | AnchorInvalid;

export class AnchorEvidenceError extends Error {
  override name = "AnchorEvidenceError";
}

/**
 * Checks evidence of an invalid anchor against the log's key: the checkpoint is
 * signed by it, the proof leads from the tree at the anchored size to it, and
 * that tree's root is not the anchored one. Throws an AnchorEvidenceError that
 * says which part fails.
 */
export function verifyAnchorInvalid(e: AnchorInvalid, log: Verifier): void {
  try {
    const note = verifyNote(parseNote(e.checkpoint), [log]);
    const checkpoint = parseCheckpoint(note.note.text);
    if (checkpoint.origin !== e.origin)
      throw new AnchorEvidenceError(`the checkpoint is of ${checkpoint.origin}, not ${e.origin}`);
    const [root, anchored] = parseHashLines([e.root, e.anchored], "the roots") as [Hash, Hash];
    const proof = e.proof === "" ? [] : parseHashLines(e.proof.replace(/\n$/u, "").split("\n"), "the proof");
    verifyConsistency(e.size, checkpoint.size, root, checkpoint.root, proof);
    if (sameHash(anchored, root))
      throw new AnchorEvidenceError("the anchored root is the log's root at that size: the anchor is valid");
  } catch (error) {
    if (error instanceof AnchorEvidenceError) throw error;
    if (error instanceof NoteError || error instanceof ProofError)
      throw new AnchorEvidenceError(error.message);
    throw error;
  }
}
