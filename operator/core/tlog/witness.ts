// C2SP tlog-witness: what a witness answers to add-checkpoint, as a pure
// function of the request, the logs it knows and the latest checkpoint it
// cosigned for that log. The caller cosigns, and persists the new state
// before it answers (atomically with the check, one request at a time).
//
// Two checkpoints of one log with the same size and different roots, both
// signed by the log's key, are proof that the log showed a split view: the
// answer carries them as evidence anyone can check.
import { parseCheckpoint, type Checkpoint } from "./checkpoint.ts";
import {
  EMPTY_ROOT,
  formatHashLines,
  parseHashLines,
  ProofError,
  sameHash,
  verifyConsistency,
  type Hash,
} from "./merkle.ts";
import { formatNote, parseNote, verifyNote, type Note, type Verifier } from "./note.ts";

export interface AddCheckpoint {
  readonly old: number;
  readonly proof: readonly Hash[];
  readonly checkpoint: Note;
}

export class WitnessRequestError extends Error {
  override name = "WitnessRequestError";
}

export function formatAddCheckpoint(r: AddCheckpoint): string {
  return [`old ${String(r.old)}\n`, formatHashLines(r.proof), "\n", formatNote(r.checkpoint)].join("");
}

/** Reads an add-checkpoint body; a WitnessRequestError (HTTP 400) says what is wrong. */
export function parseAddCheckpoint(body: string): AddCheckpoint {
  const blank = body.indexOf("\n\n");
  if (blank < 0) throw new WitnessRequestError("the request has no blank line before its checkpoint");
  const lines = body.slice(0, blank).split("\n");
  const old = /^old (0|[1-9][0-9]*)$/u.exec(lines[0] ?? "")?.[1];
  if (old === undefined || !Number.isSafeInteger(Number(old)))
    throw new WitnessRequestError("the first line must be `old <size>`");
  let proof: Hash[];
  let checkpoint: Note;
  try {
    proof = parseHashLines(lines.slice(1), "the consistency proof");
    checkpoint = parseNote(body.slice(blank + 2));
  } catch (error) {
    throw new WitnessRequestError(error instanceof Error ? error.message : String(error));
  }
  return { old: Number(old), proof, checkpoint };
}

/** The latest checkpoint a witness cosigned for one log. */
export interface Witnessed {
  readonly size: number;
  readonly root: Hash;
  /** The checkpoint as the log signed it: the evidence, should the log contradict it. */
  readonly note: string;
}

export interface SplitView {
  readonly kind: "root_mismatch";
  readonly origin: string;
  readonly size: number;
  /** Both checkpoints, each signed by the log: one of them is a lie. */
  readonly checkpoints: readonly [string, string];
}

export type WitnessAnswer =
  | { readonly status: 200; readonly checkpoint: Checkpoint; readonly next: Witnessed }
  | {
      readonly status: 400 | 403 | 404 | 409 | 422;
      readonly message: string;
      /** 409: the size the witness last cosigned. */
      readonly size?: number;
      readonly splitView?: SplitView;
    };

/**
 * What a witness answers. `logs` are the log keys it trusts, by origin;
 * `witnessed` what it cosigned last for a given origin.
 */
export function judgeAddCheckpoint(
  request: AddCheckpoint,
  logs: ReadonlyMap<string, Verifier>,
  witnessed: (origin: string) => Witnessed | undefined,
): WitnessAnswer {
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(request.checkpoint.text);
  } catch (error) {
    return {
      status: 400,
      message: `not a checkpoint: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  const verifier = logs.get(checkpoint.origin);
  if (!verifier) return { status: 404, message: `no log "${checkpoint.origin}" is known here` };
  try {
    verifyNote(request.checkpoint, [verifier]);
  } catch (error) {
    return { status: 403, message: error instanceof Error ? error.message : String(error) };
  }
  if (request.old > checkpoint.size)
    return {
      status: 400,
      message: `old size ${String(request.old)} is over the checkpoint's ${String(checkpoint.size)}`,
    };
  const last = witnessed(checkpoint.origin);
  const lastSize = last?.size ?? 0;
  if (request.old !== lastSize)
    return {
      status: 409,
      size: lastSize,
      message: `the latest checkpoint cosigned here is of size ${String(lastSize)}`,
    };
  const offered = formatNote(request.checkpoint);
  if (checkpoint.size === 0 && !sameHash(checkpoint.root, EMPTY_ROOT))
    return { status: 422, message: "a checkpoint of size 0 must have the empty tree's root" };
  if (request.old === 0) {
    if (request.proof.length > 0) return { status: 422, message: "a proof from size 0 must be empty" };
  } else if (last) {
    if (request.old === checkpoint.size && !sameHash(last.root, checkpoint.root))
      return {
        status: 422,
        message: `the log signed two checkpoints of size ${String(checkpoint.size)} with different roots`,
        splitView: {
          kind: "root_mismatch",
          origin: checkpoint.origin,
          size: checkpoint.size,
          checkpoints: [last.note, offered],
        },
      };
    try {
      verifyConsistency(request.old, checkpoint.size, last.root, checkpoint.root, request.proof);
    } catch (error) {
      if (!(error instanceof ProofError)) throw error;
      return { status: 422, message: `the consistency proof does not verify: ${error.message}` };
    }
  }
  return { status: 200, checkpoint, next: { size: checkpoint.size, root: checkpoint.root, note: offered } };
}

/**
 * Whether a checkpoint seen elsewhere (gossiped by another witness) shows a
 * split view against one this region holds: same log, same size, another
 * root, both signed. The caller verified `seen`'s signature.
 */
export function compareCheckpoints(
  held: Witnessed,
  seen: Checkpoint,
  seenNote: string,
): SplitView | undefined {
  if (held.size !== seen.size || sameHash(held.root, seen.root)) return undefined;
  return { kind: "root_mismatch", origin: seen.origin, size: seen.size, checkpoints: [held.note, seenNote] };
}
