// C2SP tlog-checkpoint (a log's signed tree head) and tlog-cosignature v1
// (a witness's timestamped Ed25519 statement that the checkpoint is the
// largest consistent one it has seen for that log).
import { HASH_SIZE, type Hash } from "./merkle.ts";
import {
  COSIGNATURE_V1,
  checkKeyName,
  decodeBase64,
  ed25519Key,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  keyId,
  NoteError,
  type Signer,
  type Verifier,
} from "./note.ts";

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Hash;
  /** Extension lines: opaque, not auditable, not used by this log. */
  readonly extensions?: readonly string[];
}

/** The note text of a checkpoint: origin, size, base64 root, then any extension lines. */
export function formatCheckpoint(c: Checkpoint): string {
  return [c.origin, String(c.size), Buffer.from(c.root).toString("base64"), ...(c.extensions ?? [])]
    .map((line) => `${line}\n`)
    .join("");
}

export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith("\n")) throw new NoteError("the checkpoint text does not end in a newline");
  const lines = text.slice(0, -1).split("\n");
  const [origin = "", size = "", root = "", ...extensions] = lines;
  if (lines.length < 3) throw new NoteError("a checkpoint has at least three lines: origin, size, root");
  if (origin === "") throw new NoteError("the checkpoint's origin line is empty");
  if (!/^(0|[1-9][0-9]*)$/u.test(size) || !Number.isSafeInteger(Number(size)))
    throw new NoteError(`the checkpoint's size "${size}" is not a decimal number without leading zeroes`);
  const hash = decodeBase64(root, "the checkpoint's root hash");
  if (hash.length !== HASH_SIZE) throw new NoteError("the checkpoint's root hash is not 32 bytes");
  if (extensions.some((e) => e === "")) throw new NoteError("a checkpoint extension line is empty");
  return { origin, size: Number(size), root: hash, ...(extensions.length > 0 ? { extensions } : {}) };
}

const utf8 = new TextEncoder();
const MAX_TIMESTAMP = 2n ** 63n - 1n;

/** The message a v1 cosignature signs: a header, the time, then the checkpoint's text. */
export const cosignedMessage = (checkpointText: string, time: number): Uint8Array =>
  utf8.encode(`cosignature/v1\ntime ${String(time)}\n${checkpointText}`);

/** A log's witness signs as `<origin>/witness`, with the log's key as a cosigner (type 0x04). */
export const witnessName = (origin: string): string => `${origin}/witness`;

/** A witness's signer of cosignature/v1 (type 0x04): its bytes are the timestamp, then the signature. */
export function cosigner(name: string, seed: Uint8Array, now: () => number = () => Date.now()): Signer {
  checkKeyName(name);
  const key = ed25519Key(seed);
  return {
    name,
    id: keyId(name, COSIGNATURE_V1, key.publicKey),
    sign: (text) => {
      const time = Math.floor(now() / 1000);
      const bytes = new Uint8Array(72);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(time));
      bytes.set(ed25519Sign(key.privateKey, cosignedMessage(text, time)), 8);
      return bytes;
    },
  };
}

/** Verifies cosignature/v1 signatures by `name`; `timeOf` reads the timestamp of one that verified. */
export function cosignatureVerifier(name: string, publicKey: Uint8Array): Verifier {
  checkKeyName(name);
  const key = ed25519PublicKey(publicKey);
  return {
    name,
    id: keyId(name, COSIGNATURE_V1, publicKey),
    verify: (text, bytes) => {
      if (bytes.length !== 72) return false;
      const time = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0);
      if (time > MAX_TIMESTAMP) return false;
      return ed25519Verify(key, cosignedMessage(text, Number(time)), bytes.subarray(8));
    },
  };
}

/** The POSIX time a cosignature says it was made. */
export const cosignatureTime = (bytes: Uint8Array): number =>
  Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0));
