import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatCheckpoint } from "./checkpoint.ts";
import { consistencyProof, leafHash, memoryReader, treeHash, type Hash } from "./merkle.ts";
import { ed25519Key, formatNote, noteSigner, noteVerifier, signNote, type Note } from "./note.ts";
import {
  formatAddCheckpoint,
  judgeAddCheckpoint,
  parseAddCheckpoint,
  WitnessRequestError,
  type Witnessed,
} from "./witness.ts";

const ORIGIN = "dsc.federation.dev/dsc/gamma";
const key = ed25519Key(new Uint8Array(32).fill(3));
const logs = new Map([[ORIGIN, noteVerifier(ORIGIN, key.publicKey)]]);
const leaves = Array.from({ length: 50 }, (_, i) => leafHash(new Uint8Array([i])));
const read = memoryReader(leaves);
const forged = memoryReader([...leaves.slice(0, 9), leafHash(new Uint8Array([99])), ...leaves.slice(10)]);

const checkpoint = (size: number, reader = read, signer = noteSigner(ORIGIN, key.seed)): Note =>
  signNote(
    { text: formatCheckpoint({ origin: ORIGIN, size, root: treeHash(size, reader) }), signatures: [] },
    [signer],
  );
const held = (size: number, reader = read): Witnessed => ({
  size,
  root: treeHash(size, reader),
  note: formatNote(checkpoint(size, reader)),
});
const judge = (old: number, proof: Hash[], note: Note, last?: Witnessed) =>
  judgeAddCheckpoint(
    parseAddCheckpoint(formatAddCheckpoint({ old, proof, checkpoint: note })),
    logs,
    () => last,
  );

describe("a witness's answer to add-checkpoint (C2SP tlog-witness)", () => {
  it("cosigns a consistent checkpoint, from nothing and from what it cosigned", () => {
    expect(judge(0, [], checkpoint(10)).status).toBe(200);
    expect(judge(10, consistencyProof(10, 30, read), checkpoint(30), held(10)).status).toBe(200);
    expect(judge(30, [], checkpoint(30), held(30)).status).toBe(200); // the same again
  });

  it("answers as the spec says: 409 with its size, 404, 403, 400, 422", () => {
    expect(judge(0, [], checkpoint(30), held(10))).toMatchObject({ status: 409, size: 10 });
    const other = ed25519Key(new Uint8Array(32).fill(4));
    const unknown = signNote(
      { text: formatCheckpoint({ origin: "elsewhere", size: 1, root: treeHash(1, read) }), signatures: [] },
      [noteSigner("elsewhere", other.seed)],
    );
    expect(judge(0, [], unknown).status).toBe(404);
    // A known log, but no signature of its pinned key (another key under its name): 403.
    expect(judge(0, [], checkpoint(10, read, noteSigner(ORIGIN, other.seed))).status).toBe(403);
    expect(judge(20, [], checkpoint(10), held(20)).status).toBe(400);
    expect(judge(10, consistencyProof(10, 30, read).slice(1), checkpoint(30), held(10)).status).toBe(422);
    expect(judge(0, consistencyProof(10, 30, read), checkpoint(30)).status).toBe(422);
  });

  it("catches a split view: a second checkpoint of the same size with another root, both signed, as evidence", () => {
    const answer = judge(30, [], checkpoint(30, forged), held(30));
    expect(answer).toMatchObject({
      status: 422,
      splitView: { kind: "root_mismatch", origin: ORIGIN, size: 30 },
    });
    if (answer.status !== 200)
      expect(answer.splitView?.checkpoints).toEqual([held(30).note, formatNote(checkpoint(30, forged))]);
    // A fork at a larger size has no valid proof: refused, not cosigned.
    expect(judge(10, consistencyProof(10, 30, forged), checkpoint(30, forged), held(10)).status).toBe(422);
  });

  it("refuses hostile request bodies with a WitnessRequestError and nothing else", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string().map((s) => `old 3\n${s}\n\n${s}`),
        ),
        (body) => {
          try {
            const r = parseAddCheckpoint(body);
            judgeAddCheckpoint(r, logs, () => undefined);
          } catch (error) {
            if (!(error instanceof WitnessRequestError)) throw error;
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
