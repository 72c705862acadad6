// RFC 6962 / RFC 9162 Merkle trees over SHA-256: leaf and node hashes, tree
// heads, inclusion and consistency proofs, and their verification. Pure: the
// hashes a proof needs come from a `NodeReader`, and `nodesFor` says which
// ones before any is read, so the caller can fetch them (from tiles on disk)
// in one batch, as Go's sumdb/tlog does with its HashReader.
//
// Sizes and indexes are JavaScript numbers: exact to 2^53, far past any log
// here. Bit operations on them would wrap at 2^31, so halving is division.
import { createHash } from "node:crypto";

export type Hash = Uint8Array;

export const HASH_SIZE = 32;

const sha256 = (...parts: readonly Uint8Array[]): Hash => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

const LEAF_PREFIX = new Uint8Array([0]);
const NODE_PREFIX = new Uint8Array([1]);

/** RFC 6962 2.1: the hash of a leaf, SHA-256(0x00 || entry). */
export const leafHash = (entry: Uint8Array): Hash => sha256(LEAF_PREFIX, entry);

/** RFC 6962 2.1: the hash of an interior node, SHA-256(0x01 || left || right). */
export const nodeHash = (left: Hash, right: Hash): Hash => sha256(NODE_PREFIX, left, right);

/** The root of the empty tree: the hash of the empty string. */
export const EMPTY_ROOT: Hash = sha256();

/**
 * A stored node: the hash of the complete, aligned subtree of `2^level`
 * leaves that starts at leaf `index * 2^level`.
 */
export interface Node {
  readonly level: number;
  readonly index: number;
}

export type NodeReader = (node: Node) => Hash;

export function sameHash(a: Hash, b: Hash): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

const isSize = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** The largest power of two strictly below n (n > 1). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const log2 = (p: number): number => Math.round(Math.log2(p));
const isPowerOfTwo = (n: number): boolean => n > 0 && 2 ** log2(n) === n;

/**
 * MTH(D[lo:hi]) for the ranges the RFC's recursions visit: `lo` is a multiple
 * of the largest power of two below `hi - lo`, so the range is a run of
 * complete stored nodes, folded right to left.
 */
function rangeHash(read: NodeReader, lo: number, hi: number): Hash {
  const n = hi - lo;
  if (isPowerOfTwo(n)) return read({ level: log2(n), index: lo / n });
  const k = splitPoint(n);
  return nodeHash(read({ level: log2(k), index: lo / k }), rangeHash(read, lo + k, hi));
}

/** The root hash of the first `size` leaves. */
export function treeHash(size: number, read: NodeReader): Hash {
  if (!isSize(size)) throw new RangeError(`tree size ${String(size)} is not a whole number`);
  return size === 0 ? EMPTY_ROOT : rangeHash(read, 0, size);
}

/** RFC 6962 2.1.1: PATH(index, D[0:size]), from the leaf's sibling up to the root's child. */
export function inclusionProof(index: number, size: number, read: NodeReader): Hash[] {
  if (!isSize(index) || !isSize(size) || index >= size)
    throw new RangeError(`leaf ${String(index)} is not in a tree of size ${String(size)}`);
  const path = (m: number, lo: number, hi: number): Hash[] => {
    const n = hi - lo;
    if (n === 1) return [];
    const k = splitPoint(n);
    return m < k
      ? [...path(m, lo, lo + k), rangeHash(read, lo + k, hi)]
      : [...path(m - k, lo + k, hi), rangeHash(read, lo, lo + k)];
  };
  return path(index, 0, size);
}

/** RFC 6962 2.1.2: PROOF(older, D[0:newer]). Empty when older is 0 or equals newer. */
export function consistencyProof(older: number, newer: number, read: NodeReader): Hash[] {
  if (!isSize(older) || !isSize(newer) || older > newer)
    throw new RangeError(`no consistency proof from size ${String(older)} to ${String(newer)}`);
  if (older === 0 || older === newer) return [];
  const sub = (m: number, lo: number, hi: number, complete: boolean): Hash[] => {
    const n = hi - lo;
    if (m === n) return complete ? [] : [rangeHash(read, lo, hi)];
    const k = splitPoint(n);
    return m <= k
      ? [...sub(m, lo, lo + k, complete), rangeHash(read, lo + k, hi)]
      : [...sub(m - k, lo + k, hi, false), rangeHash(read, lo, lo + k)];
  };
  return sub(older, 0, newer, true);
}

/**
 * The stored nodes a computation reads, found by running it once with a
 * reader that records: which nodes a proof needs depends on the sizes and
 * indexes only, never on the hashes.
 */
export function nodesFor(compute: (read: NodeReader) => unknown): Node[] {
  const seen = new Map<string, Node>();
  compute((node) => {
    seen.set(`${String(node.level)}/${String(node.index)}`, node);
    return EMPTY_ROOT;
  });
  return [...seen.values()];
}

/** RFC 9162 2.1.3.2: the root a leaf hash and its inclusion path lead to. */
export function rootFromInclusion(index: number, size: number, leaf: Hash, proof: readonly Hash[]): Hash {
  if (!isSize(index) || !isSize(size) || index >= size)
    throw new ProofError(`leaf ${String(index)} is not in a tree of size ${String(size)}`);
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (p.length !== HASH_SIZE) throw new ProofError("a proof hash is not 32 bytes");
    if (sn === 0) throw new ProofError("the inclusion proof is longer than the tree is deep");
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new ProofError("the inclusion proof is shorter than the tree is deep");
  return r;
}

export class ProofError extends Error {
  override name = "ProofError";
}

/** Throws a ProofError unless `leaf` is at `index` in the tree of `size` leaves whose root is `root`. */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Hash,
  proof: readonly Hash[],
  root: Hash,
): void {
  if (!sameHash(rootFromInclusion(index, size, leaf, proof), root))
    throw new ProofError(`the inclusion proof of leaf ${String(index)} does not lead to the root`);
}

/**
 * RFC 9162 2.1.4.2: throws a ProofError unless the tree of `newer` leaves with
 * root `newRoot` extends the tree of `older` leaves with root `oldRoot`.
 */
export function verifyConsistency(
  older: number,
  newer: number,
  oldRoot: Hash,
  newRoot: Hash,
  proof: readonly Hash[],
): void {
  if (!isSize(older) || !isSize(newer) || older > newer)
    throw new ProofError(`size ${String(older)} cannot precede size ${String(newer)}`);
  if (proof.some((p) => p.length !== HASH_SIZE)) throw new ProofError("a proof hash is not 32 bytes");
  if (older === newer) {
    if (proof.length > 0) throw new ProofError("a proof between equal sizes must be empty");
    if (!sameHash(oldRoot, newRoot)) throw new ProofError(`two different roots for size ${String(newer)}`);
    return;
  }
  if (older === 0) {
    if (proof.length > 0) throw new ProofError("a proof from the empty tree must be empty");
    if (!sameHash(oldRoot, EMPTY_ROOT)) throw new ProofError("the empty tree has another root");
    return;
  }
  const path = isPowerOfTwo(older) ? [oldRoot, ...proof] : [...proof];
  const [first, ...rest] = path;
  if (!first) throw new ProofError("the consistency proof is empty");
  let fn = older - 1;
  let sn = newer - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = first;
  let sr = first;
  for (const c of rest) {
    if (sn === 0) throw new ProofError("the consistency proof is too long");
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new ProofError("the consistency proof is too short");
  if (!sameHash(fr, oldRoot))
    throw new ProofError(`the proof does not lead to the root of size ${String(older)}`);
  if (!sameHash(sr, newRoot))
    throw new ProofError(`the proof does not lead to the root of size ${String(newer)}`);
}

/** The stored nodes of a tree of `size` leaves whose hashes are `leaves` (for tests and small trees). */
export function memoryReader(leaves: readonly Hash[]): NodeReader {
  const cache = new Map<string, Hash>();
  const read: NodeReader = ({ level, index }) => {
    if (level === 0) {
      const h = leaves[index];
      if (!h) throw new RangeError(`no leaf ${String(index)}`);
      return h;
    }
    const key = `${String(level)}/${String(index)}`;
    let h = cache.get(key);
    if (!h) {
      h = nodeHash(
        read({ level: level - 1, index: 2 * index }),
        read({ level: level - 1, index: 2 * index + 1 }),
      );
      cache.set(key, h);
    }
    return h;
  };
  return read;
}

/** Proof hashes as the C2SP text formats write them: one base64 hash a line. */
export const formatHashLines = (hashes: readonly Hash[]): string =>
  hashes.map((h) => `${Buffer.from(h).toString("base64")}\n`).join("");

/** A proof is at most 63 hashes deep (a tree of 2^63 leaves); the C2SP formats say so too. */
export const MAX_PROOF_HASHES = 63;

/** Reads proof hash lines; a ProofError names the line that is not one 32-byte base64 hash. */
export function parseHashLines(lines: readonly string[], what: string): Hash[] {
  if (lines.length > MAX_PROOF_HASHES)
    throw new ProofError(`${what}: over ${String(MAX_PROOF_HASHES)} hashes`);
  return lines.map((line, i) => {
    const bytes = Buffer.from(line, "base64");
    if (bytes.length !== HASH_SIZE || bytes.toString("base64") !== line)
      throw new ProofError(`${what}: line ${String(i + 1)} is not one 32-byte hash in standard base64`);
    return new Uint8Array(bytes);
  });
}
