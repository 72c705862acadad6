import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cosigner, cosignatureVerifier, formatCheckpoint, parseCheckpoint } from "./checkpoint.ts";
import { EMPTY_ROOT } from "./merkle.ts";
import {
  COSIGNATURE_V1,
  ED25519,
  ed25519Key,
  formatNote,
  formatVkey,
  NoteError,
  noteSigner,
  noteVerifier,
  parseNote,
  parseVkey,
  signNote,
  verifyNote,
} from "./note.ts";

describe("C2SP signed notes", () => {
  it("verifies the spec's example note with the spec's vkey", () => {
    const v = parseVkey("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k");
    const note = parseNote(
      "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n",
    );
    expect(verifyNote(note, [noteVerifier(v.name, v.publicKey)]).verified).toHaveLength(1);
    const altered = { ...note, text: "This is an example message!\n" };
    expect(() => verifyNote(altered, [noteVerifier(v.name, v.publicKey)])).toThrow(/does not verify/);
  });

  it("reads back the vkey of any key, whatever '+' its base64 holds", () => {
    for (let i = 0; i < 64; i++) {
      const key = ed25519Key(new Uint8Array(32).fill(i));
      const vkey = formatVkey("dsc.federation.dev/dsc/alpha", ED25519, key.publicKey);
      expect(Buffer.from(parseVkey(vkey).publicKey)).toEqual(Buffer.from(key.publicKey));
    }
  });

  it("ignores unknown keys, and refuses a note no known key signed", () => {
    const a = ed25519Key(new Uint8Array(32).fill(1));
    const b = ed25519Key(new Uint8Array(32).fill(2));
    const text = formatCheckpoint({ origin: "o", size: 0, root: EMPTY_ROOT });
    const note = signNote({ text, signatures: [] }, [noteSigner("o", a.seed), noteSigner("other", b.seed)]);
    expect(verifyNote(parseNote(formatNote(note)), [noteVerifier("o", a.publicKey)]).verified).toHaveLength(
      1,
    );
    expect(() => verifyNote(note, [noteVerifier("x", b.publicKey)])).toThrow(/no signature by a known key/);
  });

  it("cosigns a checkpoint (cosignature/v1) so that only the cosigner's key verifies it", () => {
    const w = ed25519Key(new Uint8Array(32).fill(5));
    const text = formatCheckpoint({ origin: "log", size: 3, root: EMPTY_ROOT });
    const note = signNote({ text, signatures: [] }, [cosigner("w", w.seed, () => 1_700_000_000_000)]);
    const [sig] = note.signatures;
    expect(sig?.bytes).toHaveLength(72);
    expect(verifyNote(note, [cosignatureVerifier("w", w.publicKey)]).verified).toHaveLength(1);
    expect(parseVkey(formatVkey("w", COSIGNATURE_V1, w.publicKey)).type).toBe(COSIGNATURE_V1);
    // A cosignature is not an Ed25519 note signature of the same key: other type, other key ID.
    expect(() => verifyNote(note, [noteVerifier("w", w.publicKey)])).toThrow(NoteError);
    expect(parseCheckpoint(text)).toMatchObject({ origin: "log", size: 3 });
  });

  it("refuses hostile notes, checkpoints and vkeys with a NoteError and nothing else", () => {
    const parsers = [parseNote, parseCheckpoint, parseVkey];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 400 }),
          fc.string({ maxLength: 100 }).map((s) => `${s}\n\n\u2014 k ${s}\n`),
          fc.tuple(fc.string(), fc.nat(), fc.string()).map(([o, n, r]) => `${o}\n${String(n)}\n${r}\n`),
        ),
        (text) => {
          for (const parse of parsers) {
            try {
              parse(text);
            } catch (error) {
              if (!(error instanceof NoteError)) throw error;
            }
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
