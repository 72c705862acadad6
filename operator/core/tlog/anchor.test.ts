import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  anchorLogId,
  AnchorEvidenceError,
  judgeAnchor,
  verifyAnchorInvalid,
  type AnchorInvalid,
} from "./anchor.ts";
import { formatCheckpoint } from "./checkpoint.ts";
import { consistencyProof, leafHash, memoryReader, treeHash } from "./merkle.ts";
import { ed25519Key, formatNote, noteSigner, noteVerifier, signNote } from "./note.ts";

const ORIGIN = "dsc.federation.dev/dsc/alpha";
const key = ed25519Key(new Uint8Array(32).fill(7));
const log = noteVerifier(ORIGIN, key.publicKey);
const leaves = Array.from({ length: 300 }, (_, i) => leafHash(new Uint8Array([i & 0xff, i >> 8])));
const read = memoryReader(leaves);
const signed = (size: number, origin = ORIGIN, seed = key.seed): string =>
  formatNote(
    signNote({ text: formatCheckpoint({ origin, size, root: treeHash(size, read) }), signatures: [] }, [
      noteSigner(origin, seed),
    ]),
  );
const forgedRoot = (size: number): Uint8Array =>
  treeHash(size, memoryReader([...leaves.slice(0, size - 1), leafHash(new Uint8Array([9, 9, 9]))]));

/** The evidence an honest region builds when the chain holds `anchored` for `size` and the log is at `at`. */
const judge = (size: number, at: number, anchored: Uint8Array) =>
  judgeAnchor({ size, root: anchored }, signed(at), treeHash(size, read), consistencyProof(size, at, read));

describe("anchors on chain against the log (anchor_invalid)", () => {
  it("names a log on chain by the keccak-256 of its origin, as the contract's tests do", () => {
    expect(anchorLogId(ORIGIN)).toMatch(/^0x[0-9a-f]{64}$/u);
    expect(anchorLogId(ORIGIN)).not.toBe(anchorLogId("dsc.federation.dev/dsc/beta"));
  });

  it("finds nothing wrong with an anchor of the log's own root, at any size up to its checkpoint", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 299 }), (at, back) => {
        const size = Math.max(1, at - back);
        expect(judge(size, at, treeHash(size, read))).toBeUndefined();
      }),
    );
  });

  it("finds nothing in an empty anchor (a log registered, never anchored)", () => {
    expect(
      judgeAnchor({ size: 0, root: new Uint8Array(32) }, signed(5), treeHash(0, read), []),
    ).toBeUndefined();
  });

  it("turns another root into evidence anyone holding the log's key can check", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 299 }), (at, back) => {
        const size = Math.max(1, at - back);
        const evidence = judge(size, at, forgedRoot(size));
        expect(evidence).toMatchObject({ kind: "anchor_invalid", origin: ORIGIN, size });
        expect(() => {
          verifyAnchorInvalid(evidence as AnchorInvalid, log);
        }).not.toThrow();
      }),
      { numRuns: 60 },
    );
  });

  it("refuses evidence that proves nothing: a valid anchor, a broken proof, another key, another log", () => {
    const evidence = judge(40, 100, forgedRoot(40)) as AnchorInvalid;
    const refused = (e: AnchorInvalid, verifier = log) => {
      try {
        verifyAnchorInvalid(e, verifier);
      } catch (error) {
        expect(error).toBeInstanceOf(AnchorEvidenceError);
        return (error as Error).message;
      }
      return "accepted";
    };
    // The anchored root is the log's: nothing is wrong.
    expect(refused({ ...evidence, anchored: evidence.root })).toMatch(/the anchor is valid/u);
    // A claimed root of the log at that size that its checkpoint does not extend.
    expect(refused({ ...evidence, root: evidence.anchored })).toMatch(/does not lead/u);
    expect(
      refused({
        ...evidence,
        proof: evidence.proof.replace(/^[^\n]+/u, Buffer.alloc(32, 1).toString("base64")),
      }),
    ).toMatch(/does not lead/u);
    expect(refused({ ...evidence, proof: "not base64\n" })).toMatch(/the proof/u);
    // A checkpoint signed by another key, or of another log.
    const other = ed25519Key(new Uint8Array(32).fill(8));
    expect(refused({ ...evidence, checkpoint: signed(100, ORIGIN, other.seed) })).toMatch(
      /no signature by a known key/u,
    );
    expect(refused(evidence, noteVerifier(ORIGIN, other.publicKey))).toMatch(/no signature by a known key/u);
    expect(refused({ ...evidence, origin: "dsc.federation.dev/dsc/beta" })).toMatch(
      /not dsc.federation.dev\/dsc\/beta/u,
    );
  });

  it("cannot be built from a checkpoint short of the anchored size", () => {
    expect(() => judgeAnchor({ size: 50, root: forgedRoot(50) }, signed(40), treeHash(50, read), [])).toThrow(
      /does not reach the anchored size 50/u,
    );
  });
});
