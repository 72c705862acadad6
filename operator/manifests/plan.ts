// What a reconcile of a verified ConsortiumManifest does next, as a pure
// function of what it found: the verifier's decision, where the manifest
// targets, the guardian pause, what is in place and what this process last
// applied. The reconciler (reconciler.ts) loads, validates and verifies, asks
// plan(), then acts and records. Nothing here does I/O, so every branch is
// tested directly (plan.test.ts), including with random input.
import type { ConsortiumManifestStatus, ObjectReference } from "../api/v1alpha1/consortium-manifest.ts";
import { chainPauseOf, samePauseContract, type ChainPause, type PauseContract } from "../chain/reader.ts";
import type { PolicyStep } from "../core/approval/federation-policy.ts";
import type { ActivePause } from "../state/readers.ts";

/** The last full apply of a manifest in this process. */
export interface AppliedMemo {
  readonly digest: string;
  readonly generation: number;
  /** When the pass that applied began (ms). */
  readonly at: number;
  readonly objects: readonly ObjectReference[];
  readonly pruned: readonly ObjectReference[];
}

/** The guardian pause as this region holds it; absent where the region keeps no federation state. */
export interface PauseFacts {
  readonly pauses: readonly ActivePause[];
  /** The GuardianPause contract as last read; undefined when not read (yet, or the read failed). */
  readonly chain: ChainPause | undefined;
  /** The GuardianPause contract the Federation names, whose unpause a resume needs. */
  readonly contract: PauseContract | undefined;
  /** Whether this region lifted the token itself. */
  readonly lifted: (token: string) => boolean;
}

export interface PlanInput {
  readonly verified: boolean;
  readonly region: string;
  readonly targets: readonly string[];
  /** The block the version was verified at. */
  readonly block: bigint;
  /** The pause tokens a resume manifest names; undefined for an apply. */
  readonly resume: readonly string[] | undefined;
  /** For a policy manifest: what the policy in force says of it (federation-policy.ts, policyStep). */
  readonly policy?: PolicyStep | undefined;
  readonly pause: PauseFacts | undefined;
  readonly digest: string;
  readonly generation: number;
  readonly previous: ConsortiumManifestStatus | undefined;
  readonly memo: AppliedMemo | undefined;
  /** ms */
  readonly now: number;
  readonly resyncMs: number;
}

export type Plan =
  /** Not approved (yet): keep what is in place, say why. */
  | { readonly kind: "refuse" }
  /** Approved, but this region is not a target: its objects go. */
  | { readonly kind: "prune-not-targeted" }
  /** A resume this region cannot act on, or not yet: say why (`soon`: ask again shortly, not at the next resync). */
  | { readonly kind: "resume-held"; readonly message: string; readonly soon?: boolean }
  /** Every token the resume names is lifted already. */
  | { readonly kind: "resume-done" }
  /** Lift these tokens; `lifting` are the pauses in force among them. */
  | { readonly kind: "resume"; readonly tokens: readonly string[]; readonly lifting: readonly ActivePause[] }
  /** The pause holds this version back; `inPlace` when it is what is applied already (nothing to write). */
  | { readonly kind: "hold"; readonly inPlace: boolean; readonly message: string }
  /** Applied by this process at this digest and generation, within a resync: refresh status only. */
  | { readonly kind: "refresh"; readonly memo: AppliedMemo; readonly requeueAfter: number }
  /** A verified policy manifest: adopt it, or say it is in force or stale. It deletes nothing, so no pause holds it. */
  | { readonly kind: "policy"; readonly step: PolicyStep }
  | { readonly kind: "apply" };

export function plan(input: PlanInput): Plan {
  // The policy in force stays in force when its own manifest no longer counts enough approvals
  // (a policy that raised the critical tier, judged under itself).
  if (input.policy?.kind === "in-force") return { kind: "policy", step: input.policy };
  if (!input.verified) return { kind: "refuse" };
  // The policy is the federation's, not a target's: every region that verifies it adopts it.
  if (input.policy) return { kind: "policy", step: input.policy };
  const pause = input.pause;
  const first = pause?.pauses[0];
  if (!input.targets.includes(input.region)) {
    // Nothing is deleted while paused: the prune waits for the resume.
    if (first) return { kind: "hold", inPlace: false, message: pausedMessage(first, "pruned") };
    return { kind: "prune-not-targeted" };
  }
  if (input.resume) {
    if (!pause)
      return {
        kind: "resume-held",
        message: "this region keeps no federation state, so it holds no guardian pause to lift",
      };
    // Done once every token it names is lifted, whatever pauses came after it.
    const tokens = input.resume.filter((t) => !pause.lifted(t));
    if (tokens.length === 0) return { kind: "resume-done" };
    const chain = pause.chain;
    if (pause.contract && (!chain || !samePauseContract(chain.contract, pause.contract)))
      return {
        kind: "resume-held",
        message:
          "the GuardianPause contract has not been read (yet, or the last read failed): a resume waits until this region reads the Board's unpause on chain",
      };
    // A read of the chain older than the block the resume was verified at may predate the pause
    // itself on chain (a guardian records a pause there after taking it): it says nothing of the
    // Board's unpause, and a pause read after the lift would be raised again under a chain token
    // no resume names. The Federation controller reads a newer block within a poll.
    if (chain && chain.block < input.block)
      return {
        kind: "resume-held",
        soon: true,
        message: `this region last read the GuardianPause contract at block ${chain.block.toString()}, before block ${input.block.toString()} where the resume was verified: a resume waits for a read at least as new`,
      };
    // A chain pause can reach this region through a peer before its own read of the chain sees
    // it: a read older than the pause it would lift says nothing of that pause's unpause. Only
    // the tokens of the contract named now are compared: another contract's ids are its own, and
    // a token of the release before 0.1.0 (`chain-<id>`) names no contract. Lifting one of those
    // early loses nothing: the guardian raises the contract's pause again, under its own token,
    // at its next read of the contract paused (guardian/service.ts).
    const newest = tokens.reduce<bigint>((max, t) => {
      const named = chainPauseOf(t);
      const ours = named?.contract && pause.contract && samePauseContract(named.contract, pause.contract);
      return ours && named.id > max ? named.id : max;
    }, 0n);
    if (chain && chain.id < newest)
      return {
        kind: "resume-held",
        message: `this region has not yet read pause ${newest.toString()} on the GuardianPause contract: a resume waits until it reads the pause and the Board's unpause on chain`,
      };
    if (chain?.paused) {
      const id = chain.id.toString();
      return {
        kind: "resume-held",
        message: `the GuardianPause contract is still paused on chain (pause ${id}): the DAO Board Safe must call unpause(${id}) first, which records the resume on chain`,
      };
    }
    const named = new Set(input.resume);
    return { kind: "resume", tokens, lifting: pause.pauses.filter((p) => named.has(p.token)) };
  }
  if (first) {
    // A version already in place stays as it is: the pause holds back what is new, and
    // what it does to running workloads is the guardian's. Not writing every manifest's
    // status on a pause keeps a pause as fast with 10,000 manifests as with ten.
    const previous = input.previous;
    const inPlace =
      (previous?.state === "Applied" || previous?.state === "Withdrawn") &&
      previous.appliedDigest === input.digest &&
      previous.observedGeneration === input.generation;
    return { kind: "hold", inPlace, message: pausedMessage(first, "applied") };
  }
  const memo = input.memo;
  const since = input.now - (memo?.at ?? 0);
  if (memo?.digest === input.digest && memo.generation === input.generation && since < input.resyncMs)
    return { kind: "refresh", memo, requeueAfter: input.resyncMs - since };
  return { kind: "apply" };
}

/** Why a pause holds a manifest back. */
export const pausedMessage = (first: ActivePause, what: "applied" | "pruned"): string =>
  `guardian pause in force since ${new Date(first.at).toISOString()} (${first.reason}; token ${first.token}); nothing is ${what} until a critical-tier resume`;
