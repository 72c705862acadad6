// Verifies one ConsortiumManifest against the chain. Candidates come from
// three sources (inline in the spec, the Safe Transaction Service, the chain's
// approved hashes and signed messages); every one is re-verified alone with
// the Safe's own checkNSignatures at one pinned block, then the pure policy
// decides. Nothing here trusts a peer, the service, or the spec's own claims.
import { createHash } from "node:crypto";
import { getAddress, recoverTypedDataAddress, type Address, type Hex } from "viem";
import type { ConsortiumManifestSpec, SignedSafe } from "../api/v1alpha1/consortium-manifest.ts";
import type { FederationSpec } from "../api/v1alpha1/federation.ts";
import { DEFAULT_CONFIRMATIONS, DEFAULT_TIERS } from "../api/v1alpha1/federation.ts";
import {
  decide,
  effectivePolicy,
  safeProblem,
  type AppliedVersion,
  type ApprovalSource,
  type Decision,
  type Owners,
  type Verdict,
} from "../core/approval/policy.ts";
import {
  encodeSingle,
  parseSignatures,
  signerOf,
  type ParsedSignature,
} from "../core/approval/signatures.ts";
import {
  bindManifest,
  federationBinding,
  manifestTypedData,
  type CanonicalManifest,
  type ManifestHashes,
} from "../core/manifest/digest.ts";
import { manifestFloor } from "../core/approval/tier-floor.ts";
import type { ChainReader } from "../chain/reader.ts";
import { canonicalJson } from "../core/manifest/canonical.ts";
import type { SafeService } from "../safe/service.ts";

interface VerificationContext {
  readonly chain: ChainReader;
  readonly service: SafeService | undefined;
  readonly federationName: string;
  readonly federation: FederationSpec;
  /** The operator's own namespace: what is in it takes the critical tier. */
  readonly operatorNamespace: string;
  /** Evidence of verified versions, shared by everything in a region that verifies. */
  readonly reuse?: VerifiedAtBlock;
}

export interface ManifestInput {
  readonly namespace: string;
  readonly name: string;
  readonly spec: ConsortiumManifestSpec;
  /** The version in place in this region (status, or the federation state when status is lost). */
  readonly applied: AppliedVersion | undefined;
}

interface ProposerVerdict {
  readonly agent: Address;
  readonly dsp?: Address;
  readonly valid: boolean;
  readonly reason?: string;
}

export interface VerificationReport {
  readonly manifest: CanonicalManifest;
  readonly hashes: ManifestHashes;
  readonly block: bigint;
  readonly owners: Owners;
  readonly verdicts: readonly Verdict[];
  readonly proposer: ProposerVerdict;
  readonly decision: Decision;
  /** Set when the Safe Transaction Service could not be asked: one source lost, not a failure. */
  readonly serviceError?: string;
}

interface Candidate {
  readonly safe: SignedSafe;
  readonly source: ApprovalSource;
  readonly signature?: ParsedSignature;
  readonly error?: string;
}

const fromBlob = (safe: SignedSafe, source: ApprovalSource, blob: string, label: string): Candidate[] => {
  const { signatures, errors } = parseSignatures(blob);
  return [
    ...signatures.map((signature) => ({ safe, source, signature })),
    ...errors.map((error) => ({ safe, source, error: `${label}: ${error}` })),
  ];
};

/** A v=1 (approved hash) or empty v=0 (on-chain signed message) signature naming `owner`. */
const onChain = (owner: Address, kind: "approved_hash" | "contract"): ParsedSignature => {
  const r: Hex = `0x${owner.slice(2).toLowerCase().padStart(64, "0")}`;
  const s: Hex = `0x${"0".repeat(64)}`;
  const parts = {
    kind,
    r,
    s,
    v: kind === "contract" ? 0 : 1,
    data: kind === "contract" ? ("0x" as Hex) : undefined,
  };
  return { ...parts, owner, encoded: encodeSingle(parts) };
};

export async function verifyManifest(
  ctx: VerificationContext,
  input: ManifestInput,
): Promise<VerificationReport> {
  const { federation, chain } = ctx;
  const { manifest, hashes } = bindManifest(
    federationBinding(ctx.federationName, federation),
    { namespace: input.namespace, name: input.name },
    input.spec,
  );

  const block = await chain.pinBlock(federation.chain.confirmations ?? DEFAULT_CONFIRMATIONS);
  // The digest covers neither the proposal nor the signatures: evidence is kept per spec as written.
  const reuseKey = evidenceKey(hashes.digest, input.spec);
  const reused = ctx.reuse?.get(chain, reuseKey, block);
  const [evidence, blockTime] = await Promise.all([
    reused ?? gatherEvidence(ctx, input, manifest, hashes, block),
    chain.blockTime(block),
  ]);
  const { owners, verdicts: shown, proposer, serviceError, safeProblems } = evidence;
  const decision = decide({
    tier: input.spec.tier,
    safeProblems,
    policy: effectivePolicy(DEFAULT_TIERS, federation.tiers),
    owners,
    verdicts: shown,
    now: blockTime,
    expiresAt: manifest.expiresAt,
    nonce: input.spec.nonce,
    digest: hashes.digest,
    applied: input.applied,
    floor: manifestFloor(input.spec.objects, {
      operatorNamespace: ctx.operatorNamespace,
      manifestNamespace: input.namespace,
    }),
    proposer,
  });
  if (decision.verified && !reused) ctx.reuse?.set(chain, reuseKey, block, evidence);
  return {
    manifest,
    hashes,
    block,
    owners,
    verdicts: shown,
    proposer,
    decision,
    ...(serviceError ? { serviceError } : {}),
  };
}

/** What the chain, the service and the spec say about a version at one block: every candidate judged alone. */
interface Evidence {
  readonly owners: Owners;
  readonly verdicts: readonly Verdict[];
  readonly proposer: ProposerVerdict;
  readonly serviceError?: string;
  readonly safeProblems: readonly string[];
}

async function gatherEvidence(
  ctx: VerificationContext,
  input: ManifestInput,
  manifest: CanonicalManifest,
  hashes: ManifestHashes,
  block: bigint,
): Promise<Evidence> {
  const { federation, chain } = ctx;
  const consortiumSafe = getAddress(federation.consortiumSafe);
  const boardSafe = getAddress(federation.daoBoardSafe);
  const hashOf = (safe: SignedSafe): Hex =>
    safe === "consortium" ? hashes.consortiumMessageHash : hashes.boardMessageHash;
  const safeOf = (safe: SignedSafe): Address => (safe === "consortium" ? consortiumSafe : boardSafe);
  const [consortium, board] = await Promise.all([
    chain.safeState(consortiumSafe, block),
    chain.safeState(boardSafe, block),
  ]);
  const owners: Owners = { consortium: consortium.owners, board: board.owners };
  const problems = {
    consortium: safeProblem({ safe: "consortium", address: consortiumSafe, ...consortium }, block),
    board: safeProblem({ safe: "board", address: boardSafe, ...board }, block),
  };
  const ownersOf = (safe: SignedSafe): readonly Address[] =>
    safe === "consortium" ? owners.consortium : owners.board;

  const check = async (c: Candidate): Promise<Verdict> => {
    const base = { safe: c.safe, source: c.source };
    if (!c.signature)
      return { ...base, signer: undefined, kind: "unknown", valid: false, reason: c.error ?? "unreadable" };
    const kind = c.signature.kind;
    const signer = await signerOf(c.signature, hashOf(c.safe));
    if (!signer)
      return {
        ...base,
        signer,
        kind,
        valid: false,
        reason: "no signer can be recovered from this signature",
      };
    if (!ownersOf(c.safe).includes(signer)) {
      const which = c.safe === "consortium" ? "the Consortium Safe" : "the DAO Board Safe";
      return {
        ...base,
        signer,
        kind,
        valid: false,
        reason: `not an owner of ${which} at block ${block.toString()}`,
      };
    }
    const problem = problems[c.safe];
    if (problem) return { ...base, signer, kind, valid: false, reason: problem };
    const result = await chain.checkSignature(safeOf(c.safe), hashOf(c.safe), c.signature.encoded, block);
    return result.valid
      ? { ...base, signer, kind, valid: true }
      : { ...base, signer, kind, valid: false, reason: result.reason ?? "rejected" };
  };

  // The three sources are read at once, and each candidate is checked as soon as it is in hand.
  const inline: Candidate[] = (input.spec.signatures ?? []).flatMap((s, i) =>
    fromBlob(s.safe, "inline", s.data, `spec.signatures[${String(i)}]`),
  );
  let serviceError: string | undefined;
  const fromService = async (): Promise<Candidate[]> => {
    const service = ctx.service;
    if (!service) return [];
    const safes = ["consortium", "board"] as const;
    const results = await Promise.all(safes.map((safe) => service.confirmations(hashOf(safe))));
    return safes.flatMap((safe, i) => {
      const result = results[i];
      if (!result) return [];
      if (!result.ok) {
        serviceError = result.error;
        return [];
      }
      return result.confirmations.flatMap((c) =>
        fromBlob(safe, "safe-service", c.signature, `service confirmation by ${c.owner}`),
      );
    });
  };
  const fromChain = async (): Promise<Candidate[]> => {
    const perSafe = await Promise.all(
      (["consortium", "board"] as const).map(async (safe) => {
        const found = await Promise.all(
          ownersOf(safe).map(async (owner) => {
            const [approved, isContract] = await Promise.all([
              chain.approvedHash(safeOf(safe), owner, hashOf(safe), block),
              chain.isContract(owner, block),
            ]);
            return [
              ...(approved ? [onChain(owner, "approved_hash")] : []),
              ...(isContract ? [onChain(owner, "contract")] : []),
            ];
          }),
        );
        return found.flat().map((signature): Candidate => ({ safe, source: "chain", signature }));
      }),
    );
    return perSafe.flat();
  };
  const proposerVerdict = verifyProposer(ctx, manifest, input.spec, block, owners);
  const groups = await Promise.all([
    Promise.all(inline.map(check)),
    fromService().then((found) => Promise.all(found.map(check))),
    fromChain().then((found) => Promise.all(found.map(check))),
  ]);
  const verdicts: Verdict[] = groups.flat();
  // On-chain probes that found nothing are noise in the status: keep only their successes.
  const shown = verdicts.filter((v) => v.source !== "chain" || v.valid);

  const proposer = await proposerVerdict;
  const safeProblems = [problems.consortium, problems.board].filter((p): p is string => p !== undefined);
  return { owners, verdicts: shown, proposer, safeProblems, ...(serviceError ? { serviceError } : {}) };
}

/**
 * What evidence is kept under: the digest, and what the spec carries that the
 * digest does not cover (the proposal and the inline signatures, in a fixed
 * order), since both are judged into the evidence. A spec with the same digest
 * and another proposal or other signatures is verified afresh.
 */
function evidenceKey(digest: string, spec: ConsortiumManifestSpec): string {
  const signatures = (spec.signatures ?? []).map((s) => `${s.safe} ${s.data.toLowerCase()}`).sort();
  const carried = canonicalJson({ proposal: spec.proposal, signatures });
  return `${digest} ${createHash("sha256").update(carried).digest("hex")}`;
}

/**
 * One verification per version per pinned block in a region: the evidence of
 * a version that verified is kept for the block it was read at, so the
 * mirror's check and the reconcile that follows it read the chain once. Only
 * verified evidence is kept (a refused version may gain approvals from the
 * service without a new block), and only for the newest block seen. The block
 * is its number: a reorganisation at the same height within `confirmations`
 * is not seen here (nor by the chain reader's own per-block cache).
 */
export class VerifiedAtBlock {
  #chain: ChainReader | undefined;
  #block: bigint | undefined;
  readonly #evidence = new Map<string, Evidence>();

  get(chain: ChainReader, key: string, block: bigint): Evidence | undefined {
    return chain === this.#chain && block === this.#block ? this.#evidence.get(key) : undefined;
  }

  set(chain: ChainReader, key: string, block: bigint, evidence: Evidence): void {
    if (chain !== this.#chain || block !== this.#block) {
      if (this.#block !== undefined && chain === this.#chain && block < this.#block) return;
      this.#chain = chain;
      this.#block = block;
      this.#evidence.clear();
    }
    this.#evidence.set(key, evidence);
  }
}

async function verifyProposer(
  ctx: VerificationContext,
  manifest: CanonicalManifest,
  spec: ConsortiumManifestSpec,
  block: bigint,
  owners: Owners,
): Promise<ProposerVerdict> {
  const agent = getAddress(spec.proposal.agent);
  let recovered: Address | undefined;
  try {
    recovered = await recoverTypedDataAddress({
      ...manifestTypedData(manifest),
      signature: spec.proposal.signature as Hex,
    });
  } catch {
    recovered = undefined;
  }
  if (recovered !== agent)
    return {
      agent,
      valid: false,
      reason: `spec.proposal.signature is not ${agent}'s signature of this manifest`,
    };
  const token = await ctx.chain.agentOf(getAddress(ctx.federation.agentRegistry), agent, block);
  if (!token)
    return { agent, valid: false, reason: `${agent} holds no agent token (never registered, or revoked)` };
  if (!owners.consortium.includes(token.dsp)) {
    return {
      agent,
      dsp: token.dsp,
      valid: false,
      reason: `the agent's DSP ${token.dsp} is not an owner of the Consortium Safe`,
    };
  }
  return { agent, dsp: token.dsp, valid: true };
}
