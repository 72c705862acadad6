import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  memoryReader,
  nodeHash,
  nodesFor,
  ProofError,
  treeHash,
  verifyConsistency,
  verifyInclusion,
  type Hash,
} from "./merkle.ts";

const leaves = (n: number): Hash[] =>
  Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`entry ${String(i)}`)));

/** MTH straight from RFC 6962 2.1, with no stored nodes: the reference. */
function mth(d: readonly Hash[]): Hash {
  if (d.length === 0) return EMPTY_ROOT;
  if (d.length === 1) return d[0] as Hash;
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return nodeHash(mth(d.slice(0, k)), mth(d.slice(k)));
}

const flip = (h: Hash): Hash => {
  const c = new Uint8Array(h);
  c[0] = (c[0] ?? 0) ^ 1;
  return c;
};

describe("RFC 6962 Merkle trees", () => {
  it("computes the RFC's tree head from stored nodes, for every size to 300", () => {
    const all = leaves(300);
    const read = memoryReader(all);
    for (let n = 0; n <= 300; n++)
      expect(Buffer.from(treeHash(n, read))).toEqual(Buffer.from(mth(all.slice(0, n))));
  });

  it("matches the published empty-tree root and one-leaf hashes", () => {
    expect(Buffer.from(EMPTY_ROOT).toString("hex")).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    // RFC 6962's leaf of the empty entry: SHA-256(0x00).
    expect(Buffer.from(leafHash(new Uint8Array())).toString("hex")).toBe(
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    );
  });

  it("proves and verifies the inclusion of every leaf in every tree to 130, and refuses every altered proof", () => {
    const all = leaves(130);
    const read = memoryReader(all);
    for (let n = 1; n <= 130; n++) {
      const root = treeHash(n, read);
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, n, read);
        const leaf = all[m] as Hash;
        verifyInclusion(m, n, leaf, proof, root);
        if (proof.length > 0) {
          const i = (m * 7 + n) % proof.length;
          expect(() => {
            verifyInclusion(
              m,
              n,
              leaf,
              proof.map((h, j) => (j === i ? flip(h) : h)),
              root,
            );
          }).toThrow(ProofError);
          expect(() => {
            verifyInclusion(m, n, leaf, proof.slice(1), root);
          }).toThrow(ProofError);
        }
        expect(() => {
          verifyInclusion(m, n, leaf, [...proof, leaf], root);
        }).toThrow(ProofError);
        if (n > 1)
          expect(() => {
            verifyInclusion((m + 1) % n, n, leaf, proof, root);
          }).toThrow(ProofError);
      }
    }
  });

  it("proves and verifies consistency for every pair of sizes to 200, and refuses altered proofs and roots", () => {
    const all = leaves(200);
    const read = memoryReader(all);
    const roots = Array.from({ length: 201 }, (_, n) => treeHash(n, read));
    for (let n = 0; n <= 200; n++) {
      for (let m = 0; m <= n; m++) {
        const proof = consistencyProof(m, n, read);
        verifyConsistency(m, n, roots[m] as Hash, roots[n] as Hash, proof);
        if (m > 0 && m < n) {
          expect(() => {
            verifyConsistency(m, n, flip(roots[m] as Hash), roots[n] as Hash, proof);
          }).toThrow(ProofError);
          expect(() => {
            verifyConsistency(m, n, roots[m] as Hash, flip(roots[n] as Hash), proof);
          }).toThrow(ProofError);
          const i = (m + n) % proof.length;
          expect(() => {
            verifyConsistency(
              m,
              n,
              roots[m] as Hash,
              roots[n] as Hash,
              proof.map((h, j) => (j === i ? flip(h) : h)),
            );
          }).toThrow(ProofError);
          expect(() => {
            verifyConsistency(m, n, roots[m] as Hash, roots[n] as Hash, proof.slice(0, -1));
          }).toThrow(ProofError);
        }
      }
    }
  }, 30_000); // about 20,000 proofs: 1-2 s alone, 7 s once on a machine loaded by the e2e suites

  it("says a split view is one: two roots for one size never verify", () => {
    const a = memoryReader(leaves(10));
    const b = memoryReader([...leaves(9), leafHash(new Uint8Array([9]))]);
    expect(() => {
      verifyConsistency(10, 10, treeHash(10, a), treeHash(10, b), []);
    }).toThrow(/two different roots/);
    expect(() => {
      verifyConsistency(9, 10, treeHash(9, a), treeHash(10, b), consistencyProof(9, 10, a));
    }).toThrow(ProofError);
  });

  it("refuses hostile proofs (any length, any bytes, any sizes) with a ProofError and nothing else", () => {
    const hash = fc.uint8Array({ minLength: 0, maxLength: 40 });
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 2 ** 40 }),
        fc.array(hash, { maxLength: 70 }),
        hash,
        hash,
        (a, b, proof, x, y) => {
          for (const run of [
            () => {
              verifyInclusion(a, b, x, proof, y);
            },
            () => {
              verifyConsistency(a, b, x, y, proof);
            },
          ]) {
            try {
              run();
              return false; // random bytes never prove anything
            } catch (error) {
              if (!(error instanceof ProofError)) throw error;
            }
          }
          return true;
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("proves for random sizes and indexes up to 2^40 leaves, reading few nodes (sizes past 2^31 need no bit tricks)", () => {
    // Every leaf the same: a complete subtree's hash depends on its level only, so any size is cheap.
    const byLevel: Hash[] = [leafHash(new Uint8Array([7]))];
    for (let l = 1; l <= 41; l++) byLevel.push(nodeHash(byLevel[l - 1] as Hash, byLevel[l - 1] as Hash));
    const read = ({ level }: { level: number }) => byLevel[level] as Hash;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.nat(), fc.nat(), (size, i, j) => {
        const index = i % size;
        const older = (j % size) + 1;
        expect(nodesFor((r) => inclusionProof(index, size, r)).length).toBeLessThanOrEqual(2 * 41);
        const root = treeHash(size, read);
        verifyInclusion(index, size, byLevel[0] as Hash, inclusionProof(index, size, read), root);
        verifyConsistency(older, size, treeHash(older, read), root, consistencyProof(older, size, read));
      }),
      { numRuns: 300 },
    );
  });
});
