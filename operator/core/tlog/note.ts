// C2SP signed-note: text signed by one or more keys. Ed25519 note signatures
// (type 0x01) for a log's own checkpoints, and the key ID and verifier-key
// ("vkey") encodings every note tool shares. Cosignatures (type 0x04) live in
// cosignature.ts; both are verified through `Verifier`s, so a note is checked
// against whatever keys a caller trusts and unknown signatures are ignored.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";

export const ED25519 = 0x01;
export const COSIGNATURE_V1 = 0x04;

/** The most signature lines a note may carry here (the spec asks at least 16 be accepted). */
export const MAX_SIGNATURES = 64;
/** The largest note accepted (a checkpoint with 64 signatures is about 7 KB). */
export const MAX_NOTE_BYTES = 64 * 1024;

export class NoteError extends Error {
  override name = "NoteError";
}

const utf8 = new TextEncoder();
const SEPARATOR = "\n\n";
const DASH = "\u2014 ";

export const keyId = (name: string, type: number, publicKey: Uint8Array): number =>
  createHash("sha256")
    .update(utf8.encode(name))
    .update(new Uint8Array([0x0a, type]))
    .update(publicKey)
    .digest()
    .readUInt32BE(0);

/** A key name: non-empty, no Unicode space, no plus sign. */
export function checkKeyName(name: string, field = "key name"): string {
  if (name === "" || /[\s+]/u.test(name))
    throw new NoteError(`${field} "${name}" must be non-empty with no spaces or "+"`);
  return name;
}

export interface Signature {
  readonly name: string;
  readonly id: number;
  /** The signature bytes after the 4-byte key ID. */
  readonly bytes: Uint8Array;
}

export interface Note {
  /** The signed text, ending in a newline. */
  readonly text: string;
  readonly signatures: readonly Signature[];
}

/** Splits a signed note into its text and signature lines; says what is wrong with one that is not. */
export function parseNote(message: string): Note {
  if (utf8.encode(message).length > MAX_NOTE_BYTES)
    throw new NoteError(`the note is over ${String(MAX_NOTE_BYTES)} bytes`);
  // eslint-disable-next-line no-control-regex -- the spec forbids control characters other than newline
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/u.test(message))
    throw new NoteError("the note holds a control character");
  const split = message.lastIndexOf(SEPARATOR);
  if (split < 0) throw new NoteError("the note has no blank line before its signatures");
  const text = message.slice(0, split + 1);
  const lines = message.slice(split + 2);
  if (!lines.endsWith("\n")) throw new NoteError("the note's last signature line does not end in a newline");
  const signatures = lines
    .slice(0, -1)
    .split("\n")
    .map((line, i) => parseSignatureLine(line, `signature line ${String(i + 1)}`));
  if (signatures.length > MAX_SIGNATURES)
    throw new NoteError(`the note has over ${String(MAX_SIGNATURES)} signatures`);
  return { text, signatures };
}

export function parseSignatureLine(line: string, where = "signature line"): Signature {
  if (!line.startsWith(DASH)) throw new NoteError(`${where} does not start with an em dash and a space`);
  const rest = line.slice(DASH.length);
  const space = rest.indexOf(" ");
  if (space < 0) throw new NoteError(`${where} has no signature after the key name`);
  const name = checkKeyName(rest.slice(0, space), `${where}'s key name`);
  const blob = decodeBase64(rest.slice(space + 1), `${where}'s signature`);
  if (blob.length < 5) throw new NoteError(`${where}'s signature is too short`);
  return { name, id: Buffer.from(blob).readUInt32BE(0), bytes: blob.subarray(4) };
}

export function formatSignatureLine(s: Signature): string {
  const blob = Buffer.alloc(4 + s.bytes.length);
  blob.writeUInt32BE(s.id >>> 0, 0);
  blob.set(s.bytes, 4);
  return `${DASH}${s.name} ${blob.toString("base64")}\n`;
}

export const formatNote = (note: Note): string =>
  `${note.text}\n${note.signatures.map(formatSignatureLine).join("")}`;

/** Standard base64, strict: what re-encodes to the same text, nothing else. */
export function decodeBase64(text: string, field: string): Uint8Array {
  const bytes = Buffer.from(text, "base64");
  if (text === "" || bytes.toString("base64") !== text)
    throw new NoteError(`${field} is not standard base64`);
  return new Uint8Array(bytes);
}

/** Checks one signature of a note's text; `name` and `id` say which signatures are its. */
export interface Verifier {
  readonly name: string;
  readonly id: number;
  verify(text: string, signature: Uint8Array): boolean;
}

export interface Signer {
  readonly name: string;
  readonly id: number;
  sign(text: string): Uint8Array;
}

/** A key pair for Ed25519 note signatures, from a 32-byte seed. */
export interface Ed25519Key {
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
}

export function ed25519Key(seed: Uint8Array): Ed25519Key & { readonly privateKey: KeyObject } {
  if (seed.length !== 32) throw new NoteError("an Ed25519 seed is 32 bytes");
  // PKCS #8 for an Ed25519 seed: a fixed 16-byte header, then the seed (RFC 8410).
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  const jwk = createPublicKey(privateKey).export({ format: "jwk" });
  return { seed, publicKey: new Uint8Array(Buffer.from(String(jwk.x), "base64url")), privateKey };
}

export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new NoteError("an Ed25519 public key is 32 bytes");
  return createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(raw).toString("base64url") },
    format: "jwk",
  });
}

export const ed25519Sign = (key: KeyObject, message: Uint8Array): Uint8Array =>
  new Uint8Array(sign(null, message, key));

export function ed25519Verify(key: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

/** A signer of Ed25519 note signatures (type 0x01) under `name`. */
export function noteSigner(name: string, seed: Uint8Array): Signer {
  checkKeyName(name);
  const key = ed25519Key(seed);
  return {
    name,
    id: keyId(name, ED25519, key.publicKey),
    sign: (text) => ed25519Sign(key.privateKey, utf8.encode(text)),
  };
}

export function noteVerifier(name: string, publicKey: Uint8Array): Verifier {
  checkKeyName(name);
  const key = ed25519PublicKey(publicKey);
  return {
    name,
    id: keyId(name, ED25519, publicKey),
    verify: (text, signature) => ed25519Verify(key, utf8.encode(text), signature),
  };
}

/** `<name>+<hex key ID>+<base64(type || public key)>`, the text form of a verifier key. */
export function formatVkey(name: string, type: number, publicKey: Uint8Array): string {
  const id = keyId(name, type, publicKey).toString(16).padStart(8, "0");
  return `${name}+${id}+${Buffer.concat([new Uint8Array([type]), publicKey]).toString("base64")}`;
}

export interface Vkey {
  readonly name: string;
  readonly id: number;
  readonly type: number;
  readonly publicKey: Uint8Array;
}

export function parseVkey(text: string, field = "verifier key"): Vkey {
  // The key's base64 may itself hold "+": the name and the ID end at the first two.
  const m = /^([^+]+)\+([^+]*)\+(.*)$/su.exec(text.trim());
  if (!m) throw new NoteError(`${field} must be <name>+<hex key ID>+<base64 key>`);
  const [, name = "", hex = "", b64 = ""] = m;
  checkKeyName(name, `${field}'s name`);
  if (!/^[0-9a-f]{8}$/u.test(hex)) throw new NoteError(`${field}'s key ID must be 8 lowercase hex digits`);
  const raw = decodeBase64(b64, `${field}'s key`);
  const type = raw[0] ?? 0;
  const publicKey = raw.subarray(1);
  if ((type === ED25519 || type === COSIGNATURE_V1) && publicKey.length !== 32)
    throw new NoteError(`${field}'s Ed25519 key must be 32 bytes`);
  const id = keyId(name, type, publicKey);
  if (id !== Number.parseInt(hex, 16))
    throw new NoteError(`${field}'s key ID does not match its name and key`);
  return { name, id, type, publicKey };
}

/** A note's text signed by `signers`, after any signatures it already has. */
export function signNote(note: Note, signers: readonly Signer[]): Note {
  return {
    text: note.text,
    signatures: [
      ...note.signatures,
      ...signers.map((s) => ({ name: s.name, id: s.id, bytes: s.sign(note.text) })),
    ],
  };
}

export interface Verified {
  readonly note: Note;
  /** The signatures that verified, with the verifier that checked each. */
  readonly verified: readonly { readonly verifier: Verifier; readonly signature: Signature }[];
}

/**
 * Verifies a note against trusted keys, as the spec asks: signatures of
 * unknown keys are ignored; one of a known key that fails rejects the note;
 * a note with no verified signature is rejected.
 */
export function verifyNote(note: Note, verifiers: readonly Verifier[]): Verified {
  const verified: { verifier: Verifier; signature: Signature }[] = [];
  for (const signature of note.signatures) {
    const verifier = verifiers.find((v) => v.name === signature.name && v.id === signature.id);
    if (!verifier) continue;
    if (!verifier.verify(note.text, signature.bytes))
      throw new NoteError(`the signature of ${signature.name} does not verify`);
    verified.push({ verifier, signature });
  }
  if (verified.length === 0) throw new NoteError("the note has no signature by a known key");
  return { note, verified };
}
