// Verifies one ConsortiumManifest against the chain. Candidates come from
// three sources (inline in the spec, the Safe Transaction Service, the chain's
// approved hashes and signed messages); every one is re-verified alone with
// the Safe's own checkNSignatures at one pinned block, then the pure policy
// decides. Nothing here trusts a peer, the service, or the spec's own claims.
import { createHash } from "node:crypto";
import { getAddress, recoverAddress, type Address, type Hex } from "viem";
import type { ConsortiumManifestSpec, SignedSafe } from "../api/v1alpha1/consortium-manifest.ts";
import type { FederationSpec } from "../api/v1alpha1/federation.ts";
import { DEFAULT_CONFIRMATIONS } from "../api/v1alpha1/federation.ts";
import { BUILT_IN_POLICY, type FederationPolicy } from "../core/approval/federation-policy.ts";
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
  type CanonicalManifest,
  type ManifestHashes,
} from "../core/manifest/digest.ts";
import { manifestFloor } from "../core/approval/tier-floor.ts";
import type { ChainReader } from "../chain/reader.ts";
import type { LensAnswer, LensQuery, OwnerOnChain } from "../chain/lens.ts";
import type { Agent, CheckResult, SafeState } from "../chain/model.ts";
import { canonicalJson } from "../core/manifest/canonical.ts";
import type { SafeService } from "../safe/service.ts";

/**
 * How old a read of the chain's head a verification may start from. A
 * quarter of a second is far below a block (12 s on Ethereum, and
 * `confirmations` blocks more), so a rotation still counts from the next
 * block; and a version verified by the mirror, the manifest controller and
 * the passes that follow other regions' progress reads the chain once.
 */
export const HEAD_MAX_AGE_MS = 250;

/**
 * How an operator's chain reader keeps the head read while verifications
 * come: in the background, a little more often than HEAD_MAX_AGE_MS, so a
 * verification seldom waits a round trip for it (under load that round trip
 * was the largest step of a verification); it stops 10 s after the last.
 */
export const FRESH_HEAD = { everyMs: (HEAD_MAX_AGE_MS * 4) / 5, forMs: 10_000 } as const;

interface VerificationContext {
  readonly chain: ChainReader;
  readonly service: SafeService | undefined;
  readonly federationName: string;
  readonly federation: FederationSpec;
  /** The operator's own namespace: what is in it takes the critical tier. */
  readonly operatorNamespace: string;
  /** Evidence of verified versions, shared by everything in a region that verifies. */
  readonly reuse?: VerifiedAtBlock;
  /** How the chain is read; the lens (one eth_call) unless a test or the bench asks otherwise. */
  readonly read?: ChainFactsReader;
  /** The federation's policy in force in this region; the built-in one unless a policy manifest was adopted. */
  readonly policy?: FederationPolicy;
  /**
   * Judge every source together, waiting for the service even when the spec's
   * own approvals verify the version (`dsc verify`, a diagnosis); the operator
   * does not wait then.
   */
  readonly waitForService?: boolean;
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
  const policy = ctx.policy ?? BUILT_IN_POLICY.policy;
  const { manifest, hashes } = bindManifest(
    federationBinding(ctx.federationName, federation),
    { namespace: input.namespace, name: input.name },
    input.spec,
  );

  // The service is asked while the head is read (in the background, mostly: FRESH_HEAD), and the
  // chain is read in one lens call whatever the number of approvals.
  const service = ctx.service ? serviceCandidates(ctx.service, hashes) : undefined;
  const block = await chain.pinBlock(
    federation.chain.confirmations ?? DEFAULT_CONFIRMATIONS,
    HEAD_MAX_AGE_MS,
    { keepFresh: true },
  );
  // The digest covers neither the proposal nor the signatures: evidence is kept per spec as written.
  const reuseKey = evidenceKey(hashes.digest, input.spec);
  const reused = ctx.reuse?.get(chain, reuseKey, block);
  const tiers = effectivePolicy(policy.tiers, federation.tiers);
  const decideOn = (evidence: Evidence): Decision =>
    decide({
      tier: input.spec.tier,
      safeProblems: evidence.safeProblems,
      policy: tiers,
      owners: evidence.owners,
      verdicts: evidence.verdicts,
      now: evidence.time,
      expiresAt: manifest.expiresAt,
      nonce: input.spec.nonce,
      digest: hashes.digest,
      applied: input.applied,
      floor: manifestFloor(input.spec.objects, {
        operatorNamespace: ctx.operatorNamespace,
        manifestNamespace: input.namespace,
        raised: policy.floors,
      }),
      proposer: evidence.proposer,
    });
  const gather = (fromService: ServiceCandidates): Promise<Evidence> =>
    gatherEvidence(ctx, input, manifest, hashes, block, fromService);
  const withError = (evidence: Evidence, error: string | undefined): Evidence =>
    error ? { ...evidence, serviceError: error } : evidence;
  const fresh = async (): Promise<Evidence> => {
    if (!service) return gather({ candidates: [] });
    if (ctx.waitForService === true || !inlineMaySuffice(input.spec, tiers)) return gather(await service);
    // The approvals the spec carries are judged while the service is still being asked: more
    // approvals never turn a verified decision into a refusal (core/approval/policy.ts), so a
    // version they verify need not wait for it (the service is a remote call in production).
    // Refused, it is judged again with what the service adds, as before: a second lens call
    // only when the spec carried enough signatures and some failed, and the service has more.
    let answered: ServiceCandidates | undefined;
    service.then(
      (result) => {
        answered = result;
      },
      () => undefined,
    );
    const inline = await gather({ candidates: [] });
    // A service that failed by now (refused, unreachable) is said, as when it was waited for.
    if (decideOn(inline).verified) return withError(inline, answered?.error);
    const more = await service;
    return more.candidates.length === 0 ? withError(inline, more.error) : gather(more);
  };
  // A verification of the same evidence at this block already under way (the mirror's check and
  // the manifest controller's reconcile of one version, say) is waited for rather than made
  // twice; taken only if it verifies, like kept evidence. No turn of the event loop between
  // finding none under way and noting this one as under way.
  const under = reused ? undefined : ctx.reuse?.pending(chain, reuseKey, block);
  const joined = reused ?? (under && (await under));
  const shared = joined && decideOn(joined).verified ? joined : undefined;
  const evidence = shared ?? (await (ctx.reuse?.track(chain, reuseKey, block, fresh()) ?? fresh()));
  const decision = decideOn(evidence);
  const { owners, verdicts: shown, proposer, serviceError } = evidence;
  if (decision.verified && !shared) ctx.reuse?.set(chain, reuseKey, block, evidence);
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

/** Whether the spec carries as many signatures per Safe as its tier needs: only then can they verify it alone. */
function inlineMaySuffice(spec: ConsortiumManifestSpec, tiers: ReturnType<typeof effectivePolicy>): boolean {
  const carried = { consortium: 0, board: 0 };
  for (const s of spec.signatures ?? []) carried[s.safe] += parseSignatures(s.data).signatures.length;
  const needs = tiers[spec.tier];
  return carried.consortium >= needs.dspApprovals && carried.board >= needs.boardApprovals;
}

/** What the chain, the service and the spec say about a version at one block: every candidate judged alone. */
interface Evidence {
  readonly owners: Owners;
  readonly verdicts: readonly Verdict[];
  readonly proposer: ProposerVerdict;
  readonly serviceError?: string;
  readonly safeProblems: readonly string[];
  /** The block's timestamp: approvals expire by the chain's clock, not the pod's. */
  readonly time: number;
}

/**
 * Reads what the chain says about one manifest at `block`: the Safes, each
 * owner's on-chain approval, the Safe's checkNSignatures on every candidate
 * whose signer is an owner, and the proposer's agent token.
 */
export type ChainFactsReader = (
  chain: ChainReader,
  safes: readonly Address[],
  registry: Address,
  query: LensQuery,
  block: bigint,
) => Promise<LensAnswer>;

/** All of it in one eth_call, shared with the verifications asking at the same block. */
export const readBatched: ChainFactsReader = (chain, safes, registry, query, block) =>
  chain.judge(safes, registry, query, block);

/**
 * One RPC call per fact, as the operator read the chain before the lens: the
 * reference the lens is tested against, and the bench's baseline.
 */
export const readOneByOne: ChainFactsReader = async (chain, safes, registry, query, block) => {
  const states = await Promise.all(safes.map((safe) => chain.safeState(safe, block)));
  const probe = async (safe: Address, hash: Hex, owner: Address): Promise<OwnerOnChain> => {
    const [approved, isContract] = await Promise.all([
      chain.approvedHash(safe, owner, hash, block),
      chain.isContract(owner, block),
    ]);
    const check = (kind: "approved_hash" | "contract") =>
      chain.checkSignature(safe, hash, onChain(owner, kind).encoded, block);
    const [approvedCheck, contractCheck] = await Promise.all([
      approved ? check("approved_hash") : undefined,
      isContract ? check("contract") : undefined,
    ]);
    return {
      owner,
      ...(approvedCheck ? { approved: approvedCheck } : {}),
      ...(contractCheck ? { contract: contractCheck } : {}),
    };
  };
  const at = <T>(list: readonly T[], i: number): T => list[i] as T;
  const [time, onChainFacts, checks, agent] = await Promise.all([
    chain.blockTime(block),
    Promise.all(
      safes.map((safe, s) =>
        Promise.all(at(states, s).owners.map((owner) => probe(safe, at(query.hashes, s), owner))),
      ),
    ),
    Promise.all(
      query.checks.map((c) =>
        at(states, c.safe).owners.includes(c.signer)
          ? chain.checkSignature(at(safes, c.safe), at(query.hashes, c.safe), c.signature, block)
          : Promise.resolve(undefined),
      ),
    ),
    chain.agentOf(registry, query.agent, block),
  ]);
  const proposer = await recoverAddress(query.proposal).catch(() => undefined);
  return { time, safes: states, onChain: onChainFacts, checks, agent, proposer };
};

const SAFES = ["consortium", "board"] as const;

/** The service's confirmations as candidates, or the error that lost that source. */
interface ServiceCandidates {
  readonly candidates: readonly Candidate[];
  readonly error?: string;
}

async function serviceCandidates(service: SafeService, hashes: ManifestHashes): Promise<ServiceCandidates> {
  const results = await Promise.all(SAFES.map((safe) => service.confirmations(hashOf(hashes, safe))));
  let error: string | undefined;
  const candidates = SAFES.flatMap((safe, i) => {
    const result = results[i];
    if (!result) return [];
    if (!result.ok) {
      error = result.error;
      return [];
    }
    return result.confirmations.flatMap((c) =>
      fromBlob(safe, "safe-service", c.signature, `service confirmation by ${c.owner}`),
    );
  });
  return { candidates, ...(error ? { error } : {}) };
}

const hashOf = (hashes: ManifestHashes, safe: SignedSafe): Hex =>
  safe === "consortium" ? hashes.consortiumMessageHash : hashes.boardMessageHash;

async function gatherEvidence(
  ctx: VerificationContext,
  input: ManifestInput,
  manifest: CanonicalManifest,
  hashes: ManifestHashes,
  block: bigint,
  service: ServiceCandidates,
): Promise<Evidence> {
  const { federation, chain } = ctx;
  const safes = [getAddress(federation.consortiumSafe), getAddress(federation.daoBoardSafe)] as const;
  const inline: Candidate[] = (input.spec.signatures ?? []).flatMap((s, i) =>
    fromBlob(s.safe, "inline", s.data, `spec.signatures[${String(i)}]`),
  );
  const candidates = [...inline, ...service.candidates];
  const signers = await Promise.all(
    candidates.map((c) =>
      c.signature ? signerOf(c.signature, hashOf(hashes, c.safe)) : Promise.resolve(undefined),
    ),
  );
  // One check per distinct signature: a spec that repeats one costs the chain nothing more.
  const checks: { safe: number; signer: Address; signature: Hex }[] = [];
  const checkIndex = new Map<string, number>();
  const indexOf = candidates.map((c, i) => {
    const signer = signers[i];
    if (!c.signature || !signer) return undefined;
    const key = `${c.safe} ${c.signature.encoded}`;
    let index = checkIndex.get(key);
    if (index === undefined) {
      index = checks.push({ safe: SAFES.indexOf(c.safe), signer, signature: c.signature.encoded }) - 1;
      checkIndex.set(key, index);
    }
    return index;
  });
  const facts = await (ctx.read ?? readBatched)(
    chain,
    safes,
    getAddress(federation.agentRegistry),
    {
      hashes: SAFES.map((safe) => hashOf(hashes, safe)),
      checks,
      agent: getAddress(input.spec.proposal.agent),
      // The proposer signs the manifest's EIP-712 message, whose hash is the Safes' data hash.
      proposal: { hash: hashes.dataHash, signature: input.spec.proposal.signature as Hex },
    },
    block,
  );
  const [consortium, board] = facts.safes as [SafeState, SafeState];
  const owners: Owners = { consortium: consortium.owners, board: board.owners };
  const problems = {
    consortium: safeProblem({ safe: "consortium", address: safes[0], ...consortium }, block),
    board: safeProblem({ safe: "board", address: safes[1], ...board }, block),
  };

  const judged = (
    c: Pick<Candidate, "safe" | "source" | "error">,
    kind: Verdict["kind"],
    signer: Address | undefined,
    check: CheckResult | undefined,
  ): Verdict => {
    const base = { safe: c.safe, source: c.source, signer, kind };
    if (kind === "unknown") return { ...base, valid: false, reason: c.error ?? "unreadable" };
    if (!signer) return { ...base, valid: false, reason: "no signer can be recovered from this signature" };
    if (!owners[c.safe].includes(signer)) {
      const which = c.safe === "consortium" ? "the Consortium Safe" : "the DAO Board Safe";
      return { ...base, valid: false, reason: `not an owner of ${which} at block ${block.toString()}` };
    }
    const problem = problems[c.safe];
    if (problem) return { ...base, valid: false, reason: problem };
    if (!check) return { ...base, valid: false, reason: "the Safe was not asked" };
    return check.valid
      ? { ...base, valid: true }
      : { ...base, valid: false, reason: check.reason ?? "rejected" };
  };
  const shownCandidates = candidates.map((c, i) => {
    const index = indexOf[i];
    return judged(
      c,
      c.signature?.kind ?? "unknown",
      signers[i],
      index === undefined ? undefined : facts.checks[index],
    );
  });
  // On-chain probes that found nothing are noise in the status: keep only their successes.
  const fromChain = SAFES.flatMap((safe, s) =>
    (facts.onChain[s] ?? []).flatMap((found) => [
      ...(found.approved
        ? [judged({ safe, source: "chain" }, "approved_hash", found.owner, found.approved)]
        : []),
      ...(found.contract ? [judged({ safe, source: "chain" }, "contract", found.owner, found.contract)] : []),
    ]),
  ).filter((v) => v.valid);

  const safeProblems = [problems.consortium, problems.board].filter((p): p is string => p !== undefined);
  return {
    owners,
    verdicts: [...shownCandidates, ...fromChain],
    proposer: proposerVerdict(input.spec, facts.proposer, facts.agent, owners),
    safeProblems,
    time: facts.time,
    ...(service.error ? { serviceError: service.error } : {}),
  };
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
/** Verified evidence kept for one block at most: far more versions than a block sees verified. */
const MAX_EVIDENCE = 1024;

export class VerifiedAtBlock {
  #chain: ChainReader | undefined;
  #block: bigint | undefined;
  readonly #evidence = new Map<string, Evidence>();
  /** Verifications under way, by chain, block and key; each removes itself when it settles. */
  readonly #pending = new Map<
    string,
    { readonly chain: ChainReader; readonly evidence: Promise<Evidence> }
  >();

  /** The evidence being gathered for `key` at `block`, if a verification is under way; never rejects. */
  pending(chain: ChainReader, key: string, block: bigint): Promise<Evidence | undefined> | undefined {
    const under = this.#pending.get(`${block.toString()} ${key}`);
    return under?.chain === chain ? under.evidence.catch(() => undefined) : undefined;
  }

  /** Notes `evidence` as under way for `key` at `block` until it settles; returns it. */
  track(chain: ChainReader, key: string, block: bigint, evidence: Promise<Evidence>): Promise<Evidence> {
    const at = `${block.toString()} ${key}`;
    const entry = { chain, evidence };
    this.#pending.set(at, entry);
    const done = (): void => {
      if (this.#pending.get(at) === entry) this.#pending.delete(at);
    };
    evidence.then(done, done);
    return evidence;
  }

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
    // Bounded while the chain makes no block: a peer's hints (an approved spec with junk
    // signatures added still verifies, under a new key each time) must not grow it for ever.
    for (const oldest of this.#evidence.keys()) {
      if (this.#evidence.size <= MAX_EVIDENCE) break;
      this.#evidence.delete(oldest);
    }
  }
}

function proposerVerdict(
  spec: ConsortiumManifestSpec,
  recovered: Address | undefined,
  token: Agent | undefined,
  owners: Owners,
): ProposerVerdict {
  const agent = getAddress(spec.proposal.agent);
  if (recovered !== agent)
    return {
      agent,
      valid: false,
      reason: `spec.proposal.signature is not ${agent}'s signature of this manifest`,
    };
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
