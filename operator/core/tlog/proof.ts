// C2SP tlog-proof: an offline proof that an entry is in a log, under a
// checkpoint signed by the log and cosigned by witnesses; and its
// verification against a policy of trusted keys (the log's key, and k of n
// witnesses), with no access to the log.
import { parseCheckpoint, type Checkpoint } from "./checkpoint.ts";
import {
  formatHashLines,
  leafHash,
  parseHashLines,
  ProofError,
  verifyInclusion,
  type Hash,
} from "./merkle.ts";
import {
  decodeBase64,
  formatNote,
  NoteError,
  parseNote,
  verifyNote,
  type Note,
  type Verifier,
} from "./note.ts";

const HEADER = "c2sp.org/tlog-proof@v1";

export interface TlogProof {
  readonly index: number;
  readonly proof: readonly Hash[];
  /** The signed checkpoint, with any cosignatures. */
  readonly checkpoint: Note;
  readonly extra?: Uint8Array;
}

export function formatProof(p: TlogProof): string {
  return [
    `${HEADER}\n`,
    p.extra ? `extra ${Buffer.from(p.extra).toString("base64")}\n` : "",
    `index ${String(p.index)}\n`,
    formatHashLines(p.proof),
    "\n",
    formatNote(p.checkpoint),
  ].join("");
}

export function parseProof(text: string): TlogProof {
  const blank = text.indexOf("\n\n");
  if (blank < 0) throw new NoteError("the proof has no blank line before its checkpoint");
  const lines = text.slice(0, blank).split("\n");
  if (lines.shift() !== HEADER) throw new NoteError(`a tlog proof starts with the line ${HEADER}`);
  let extra: Uint8Array | undefined;
  if (lines[0]?.startsWith("extra "))
    extra = decodeBase64(lines.shift()?.slice("extra ".length) ?? "", "the proof's extra data");
  const index = /^index (0|[1-9][0-9]*)$/u.exec(lines.shift() ?? "")?.[1];
  if (index === undefined || !Number.isSafeInteger(Number(index)))
    throw new NoteError("the proof's index line must be `index <decimal>`");
  let proof: Hash[];
  try {
    proof = parseHashLines(lines, "the inclusion proof");
  } catch (error) {
    throw new NoteError(error instanceof Error ? error.message : String(error));
  }
  const checkpoint = parseNote(text.slice(blank + 2));
  return { index: Number(index), proof, checkpoint, ...(extra ? { extra } : {}) };
}

/** Which keys a proof must carry signatures of: the log's, and `quorum` of the witnesses'. */
export interface WitnessPolicy {
  readonly origin: string;
  readonly log: Verifier;
  readonly witnesses: readonly Verifier[];
  readonly quorum: number;
}

export interface ProvenEntry {
  readonly checkpoint: Checkpoint;
  /** The witnesses whose cosignatures verified. */
  readonly witnesses: readonly string[];
}

/**
 * Verifies that `entry` is at the proof's index in the log, under a
 * checkpoint signed by the log's key and cosigned by at least `quorum` of the
 * policy's witnesses. Throws, saying which step failed.
 */
export function verifyProof(p: TlogProof, entry: Uint8Array, policy: WitnessPolicy): ProvenEntry {
  const checkpoint = parseCheckpoint(p.checkpoint.text);
  if (checkpoint.origin !== policy.origin)
    throw new ProofError(`the checkpoint is of log "${checkpoint.origin}", not "${policy.origin}"`);
  const logSigned = verifyNote(p.checkpoint, [policy.log]);
  if (!logSigned.verified.some((v) => v.verifier === policy.log))
    throw new ProofError("the checkpoint is not signed by the log's key");
  const witnesses = new Set<string>();
  for (const s of p.checkpoint.signatures) {
    const w = policy.witnesses.find((v) => v.name === s.name && v.id === s.id);
    if (!w) continue;
    if (!w.verify(p.checkpoint.text, s.bytes))
      throw new ProofError(`the cosignature of ${s.name} does not verify`);
    witnesses.add(w.name);
  }
  if (witnesses.size < policy.quorum)
    throw new ProofError(
      `the checkpoint is cosigned by ${String(witnesses.size)} of the trusted witnesses; the policy asks ${String(policy.quorum)}`,
    );
  verifyInclusion(p.index, checkpoint.size, leafHash(entry), p.proof, checkpoint.root);
  return { checkpoint, witnesses: [...witnesses] };
}
