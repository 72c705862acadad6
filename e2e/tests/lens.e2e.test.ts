// The lens (one eth_call per verification, contracts/ManifestLens.sol) must
// refuse exactly what one call per fact refused. Random signature sets, made
// of real approvals, forgeries, signatures over other manifests, non-owners,
// garbage and repeats, plus approvals given on chain, are verified both ways
// at the same block against the test bed's real Safes; the reports must be
// equal, reasons included.
import fc from "fast-check";
import { concatHex, createTestClient, http, numberToHex, padHex, type Hex } from "viem";
import { generatePrivateKey } from "viem/accounts";
import { beforeAll, describe, expect, it } from "vitest";
import type { ConsortiumManifestSpec, SignedSafe } from "../../operator/api/v1alpha1/consortium-manifest.ts";
import type { FederationSpec } from "../../operator/api/v1alpha1/federation.ts";
import { ChainReader } from "../../operator/chain/reader.ts";
import { encodeSingle } from "../../operator/core/approval/signatures.ts";
import type { ManifestHashes } from "../../operator/core/manifest/digest.ts";
import { signAsBoardOwner, signAsDspOwner, signHash } from "../../operator/signing/sign.ts";
import {
  readBatched,
  readOneByOne,
  verifyManifest,
  type ChainFactsReader,
  type VerificationReport,
} from "../../operator/verification/verify.ts";
import { approvedSpec } from "../testbed/approve.ts";
import { REGIONS } from "../testbed/layout.ts";
import { federationSpec } from "../testbed/operator.ts";
import { approveHashFrom, signMessageOnChain } from "../testbed/safe-tx.ts";
import { current, type Testbed } from "../testbed/testbed.ts";

let chain: Testbed["chain"];
let federation: FederationSpec;
interface Prepared {
  readonly name: string;
  readonly spec: ConsortiumManifestSpec;
  readonly hashes: ManifestHashes;
}
/** Manifests signed by no one inline; the first two also approved on chain. */
const manifests: Prepared[] = [];

beforeAll(async () => {
  chain = (await current()).chain;
  federation = federationSpec(chain, "alpha");
  const run = Date.now().toString(36);
  for (let i = 0; i < 4; i++) {
    const name = `lens-${run}-${String(i)}`;
    const { spec, hashes } = await approvedSpec(
      chain,
      { namespace: "lens", name },
      {
        tier: (["operational", "upgrade", "critical"] as const)[i % 3] ?? "upgrade",
        targets: ["alpha"],
        nonce: 1,
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { i: String(i) } }],
      },
      { signers: [] },
    );
    manifests.push({ name, spec, hashes });
  }
  // Approvals given on chain: gamma's Safe approves the first manifest's hash (approveHash), beta's
  // Safe signs the second's as a message (SignMessageLib), so both probes of the lens find something.
  const [first, second] = manifests as [Prepared, Prepared];
  await approveHashFrom(chain, chain.safes.consortium, first.hashes.consortiumMessageHash, ["gamma"]);
  await signMessageOnChain(chain, "beta", second.hashes.consortiumMessageHash);
  await createTestClient({ mode: "anvil", transport: http(chain.rpcUrl) }).mine({ blocks: 1 });
}, 180_000);

type Piece =
  | { readonly kind: "dsp"; readonly region: number; readonly other: boolean }
  | { readonly kind: "board"; readonly owner: number; readonly other: boolean; readonly safe: SignedSafe }
  | { readonly kind: "stranger"; readonly scheme: "ecdsa" | "eth_sign"; readonly safe: SignedSafe }
  | { readonly kind: "onchain"; readonly who: number; readonly v: 0 | 1; readonly safe: SignedSafe }
  | { readonly kind: "garbage"; readonly bytes: Uint8Array; readonly safe: SignedSafe };

const piece: fc.Arbitrary<Piece> = fc.oneof(
  fc.record({ kind: fc.constant("dsp" as const), region: fc.nat(2), other: fc.boolean() }),
  fc.record({
    kind: fc.constant("board" as const),
    owner: fc.nat(1),
    other: fc.boolean(),
    safe: fc.constantFrom<SignedSafe>("board", "consortium"),
  }),
  fc.record({
    kind: fc.constant("stranger" as const),
    scheme: fc.constantFrom("ecdsa" as const, "eth_sign" as const),
    safe: fc.constantFrom<SignedSafe>("board", "consortium"),
  }),
  fc.record({
    kind: fc.constant("onchain" as const),
    who: fc.nat(4),
    v: fc.constantFrom(0 as const, 1 as const),
    safe: fc.constantFrom<SignedSafe>("board", "consortium"),
  }),
  fc.record({
    kind: fc.constant("garbage" as const),
    bytes: fc.uint8Array({ maxLength: 200 }),
    safe: fc.constantFrom<SignedSafe>("board", "consortium"),
  }),
);

type Proposal = "valid" | "stranger" | "garbage" | "compact" | "parity" | "bad-v";

/** A signature blob for `piece`, over this manifest's hashes or (other) another's. */
async function blob(
  p: Piece,
  own: ManifestHashes,
  other: ManifestHashes,
): Promise<{ safe: SignedSafe; data: Hex }> {
  switch (p.kind) {
    case "dsp": {
      const region = REGIONS[p.region] ?? "alpha";
      const data = await signAsDspOwner(
        chain.keys.dspOwners[region][0] as Hex,
        chain.safes.dsp[region],
        chain.chainId,
        p.other ? other : own,
      );
      return { safe: "consortium", data };
    }
    case "board":
      return {
        safe: p.safe,
        data: await signAsBoardOwner(chain.keys.boardOwners[p.owner] as Hex, p.other ? other : own),
      };
    case "stranger": {
      const hash = p.safe === "consortium" ? own.consortiumMessageHash : own.boardMessageHash;
      return { safe: p.safe, data: await signHash(generatePrivateKey(), hash, p.scheme) };
    }
    case "onchain": {
      // An approved-hash (v=1) or empty contract (v=0) signature naming a DSP Safe, a Board owner or a stranger.
      const names = [
        chain.safes.dsp.alpha,
        chain.safes.dsp.beta,
        chain.safes.dsp.gamma,
        chain.safes.daoBoard,
        "0x000000000000000000000000000000000000dead",
      ] as const;
      const owner = names[p.who] ?? names[0];
      const r = padHex(owner, { size: 32 });
      const s = padHex("0x0", { size: 32 });
      return {
        safe: p.safe,
        data:
          p.v === 1
            ? encodeSingle({ kind: "approved_hash", r, s, v: 1, data: undefined })
            : encodeSingle({ kind: "contract", r, s, v: 0, data: "0x" }),
      };
    }
    case "garbage":
      return { safe: p.safe, data: `0x${Buffer.from(p.bytes).toString("hex")}` };
  }
}

function proposal(kind: Proposal, valid: Hex): Hex {
  switch (kind) {
    case "valid":
      return valid;
    case "stranger":
      return concatHex([`0x${"11".repeat(32)}`, `0x${"22".repeat(32)}`, "0x1b"]);
    case "garbage":
      return "0xdeadbeef";
    case "compact":
      return `0x${valid.slice(2, 130)}`; // r and s only: viem reads v as 0
    case "parity":
      // v as a parity bit (0 or 1) instead of 27 or 28: the same signer.
      return concatHex([
        `0x${valid.slice(2, 130)}`,
        numberToHex(Number.parseInt(valid.slice(130), 16) - 27, { size: 1 }),
      ]);
    case "bad-v":
      return concatHex([`0x${valid.slice(2, 130)}`, "0x1d"]);
  }
}

const verify = (read: ChainFactsReader, prepared: Prepared, spec: ConsortiumManifestSpec) =>
  verifyManifest(
    {
      // A reader of its own each time: nothing cached by the other way counts.
      chain: new ChainReader({ rpcUrl: chain.rpcUrl, chainId: chain.chainId }),
      service: undefined,
      federationName: "dsc",
      federation,
      operatorNamespace: "dsc-system",
      read,
    },
    { namespace: "lens", name: prepared.name, spec, applied: undefined },
  );

const comparable = (r: VerificationReport) => ({
  block: r.block,
  owners: r.owners,
  verdicts: r.verdicts,
  proposer: r.proposer,
  decision: r.decision,
});

describe("the lens", () => {
  it("refuses exactly what one call per fact refused, on random signature sets against the real Safes", async () => {
    let verified = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.nat(manifests.length - 1),
        fc.array(piece, { maxLength: 7 }),
        fc.constantFrom<Proposal>("valid", "valid", "stranger", "garbage", "compact", "parity", "bad-v"),
        fc.boolean(),
        async (index, pieces, proposalKind, repeat) => {
          const prepared = manifests[index] as Prepared;
          const other = manifests[(index + 1) % manifests.length] as Prepared;
          const blobs = await Promise.all(pieces.map((p) => blob(p, prepared.hashes, other.hashes)));
          // Some in one blob (as Safe{Wallet} concatenates them), some repeated.
          const signatures = [
            ...blobs,
            ...(repeat && blobs[0] ? [blobs[0]] : []),
            ...(blobs.length >= 2 && blobs[0]?.safe === blobs[1]?.safe
              ? [
                  {
                    safe: blobs[0]?.safe ?? "consortium",
                    data: concatHex([blobs[0]?.data ?? "0x", (blobs[1]?.data ?? "0x").slice(2) as Hex]),
                  },
                ]
              : []),
          ];
          const spec: ConsortiumManifestSpec = {
            ...prepared.spec,
            proposal: {
              ...prepared.spec.proposal,
              signature: proposal(proposalKind, prepared.spec.proposal.signature as Hex),
            },
            ...(signatures.length > 0 ? { signatures } : {}),
          };
          const [one, lens] = await Promise.all([
            verify(readOneByOne, prepared, spec),
            verify(readBatched, prepared, spec),
          ]);
          expect(comparable(lens)).toEqual(comparable(one));
          if (one.decision.verified) verified++;
        },
      ),
      { numRuns: 80 },
    );
    // The sets must not all be refused for the same dull reason.
    expect(verified).toBeGreaterThan(0);
  }, 240_000);

  it("answers many verifications at one block with one eth_call, each as it would be alone", async () => {
    let requests = 0;
    const reader = new ChainReader({
      rpcUrl: chain.rpcUrl,
      chainId: chain.chainId,
      onRequest: () => {
        requests++;
      },
    });
    const specs = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const name = `lens-many-${String(i)}`;
        const { spec } = await approvedSpec(
          chain,
          { namespace: "lens", name },
          {
            tier: "upgrade",
            targets: ["alpha"],
            nonce: 1,
            expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
            objects: [],
          },
          // Every third has one approval too few.
          { signers: i % 3 === 0 ? ["alpha"] : ["alpha", "beta"] },
        );
        return { name, spec };
      }),
    );
    const reports = await Promise.all(
      specs.map(({ name, spec }) =>
        verifyManifest(
          {
            chain: reader,
            service: undefined,
            federationName: "dsc",
            federation,
            operatorNamespace: "dsc-system",
          },
          { namespace: "lens", name, spec, applied: undefined },
        ),
      ),
    );
    expect(reports.map((r) => r.decision.verified)).toEqual(specs.map((_, i) => i % 3 !== 0));
    // One read of the head (chain id and block number in one JSON-RPC batch) and one lens call.
    expect(requests).toBe(2);
  });
});
