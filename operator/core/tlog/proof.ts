// C2SP tlog-proof: an offline proof that an entry is in a log, under a
// checkpoint signed by the log and cosigned by witnesses; and its
// verification against a policy of trusted keys (the log's key, and k of n
// witnesses), with no access to the log.
import { parseCheckpoint, type Checkpoint } from "./checkpoint.ts";
import { HASH_SIZE, leafHash, ProofError, verifyInclusion, type Hash } from "./merkle.ts";
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
/** A tree of 2^63 leaves is 63 hashes deep. */
const MAX_PROOF_HASHES = 63;

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
    ...p.proof.map((h) => `${Buffer.from(h).toString("base64")}\n`),
    "\n",
    formatNote(p.checkpoint),
  ].join("");
}

export function parseProof(text: string): TlogProof {
  const lines = text.split("\n");
  let at = 0;
  const next = (): string => lines[at++] ?? "";
  if (next() !== HEADER) throw new NoteError(`a tlog proof starts with the line ${HEADER}`);
  let line = next();
  let extra: Uint8Array | undefined;
  if (line.startsWith("extra ")) {
    extra = decodeBase64(line.slice("extra ".length), "the proof's extra data");
    line = next();
  }
  const index = /^index (0|[1-9][0-9]*)$/u.exec(line)?.[1];
  if (index === undefined || !Number.isSafeInteger(Number(index)))
    throw new NoteError("the proof's index line must be `index <decimal>`");
  const proof: Hash[] = [];
  for (line = next(); line !== ""; line = next()) {
    if (at > lines.length) throw new NoteError("the proof has no blank line before its checkpoint");
    const h = decodeBase64(line, `proof hash ${String(proof.length + 1)}`);
    if (h.length !== HASH_SIZE) throw new NoteError(`proof hash ${String(proof.length + 1)} is not 32 bytes`);
    proof.push(h);
    if (proof.length > MAX_PROOF_HASHES)
      throw new NoteError(`the proof has over ${String(MAX_PROOF_HASHES)} hashes`);
  }
  const checkpoint = parseNote(lines.slice(at).join("\n"));
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
