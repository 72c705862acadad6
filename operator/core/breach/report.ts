// A monitoring agent's breach report, as it signs it (EIP-712) and as the
// operator judges it before it may pause anything. Pure: the chain's part
// (does the signer hold an agent token, is its DSP a member) is in
// operator/guardian/verify-report.ts.
//
// The report's EIP-712 hash is its identity: equal reports written
// differently (address case, time zone) have one hash, and a report is
// refused as Replayed once its hash has been seen. The signature is not part
// of the identity, so a second signature of one report (ECDSA malleability,
// or the agent signing twice) is still a replay.
import {
  getAddress,
  hashTypedData,
  recoverTypedDataAddress,
  size,
  type Address,
  type Hex,
  type TypedDataDefinition,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { FieldError } from "../../api/schema.ts";
import { breachReport, type BreachSeverity } from "../../api/v1alpha1/breach-report.ts";
import { hexBytes } from "../../api/v1alpha1/fields.ts";

export interface BreachReport {
  readonly agent: Address;
  readonly scope: string;
  readonly severity: BreachSeverity;
  /** keccak256 of the evidence: 0x and 64 hex digits. */
  readonly evidenceHash: Hex;
  /** RFC 3339 date-time; signed as unix seconds. */
  readonly observedAt: string;
}

/** What a report is bound to beyond itself: the federation, the chain and the guardian pause contract. */
export interface BreachDomain {
  readonly federation: string;
  readonly chainId: number;
  readonly guardianPause: Address;
}

const BREACH_TYPES = {
  EIP712Domain: [
    { name: "name", type: "string" },
    { name: "version", type: "string" },
    { name: "chainId", type: "uint256" },
    { name: "verifyingContract", type: "address" },
  ],
  BreachReport: [
    { name: "federation", type: "string" },
    { name: "agent", type: "address" },
    { name: "scope", type: "string" },
    { name: "severity", type: "string" },
    { name: "evidenceHash", type: "bytes32" },
    { name: "observedAt", type: "uint64" },
  ],
} as const;

type BreachTypedData = TypedDataDefinition<typeof BREACH_TYPES, "BreachReport">;

/** RFC 3339 `date-time` (Date.parse alone also takes "2026-01-01" or "Jan 1 2026"). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** Unix seconds of an RFC 3339 time, so that equal instants written differently agree. */
export function observedSeconds(observedAt: string): number {
  const ms = RFC3339.test(observedAt) ? Date.parse(observedAt) : Number.NaN;
  if (Number.isNaN(ms))
    throw new Error(`spec.observedAt: ${JSON.stringify(observedAt)} is not an RFC 3339 date-time`);
  if (ms < 0) throw new Error(`spec.observedAt: ${observedAt} is before 1970`);
  return Math.floor(ms / 1000);
}

/** The EIP-712 message an agent signs (and `dsc breach` prints). */
export function breachTypedData(domain: BreachDomain, report: BreachReport): BreachTypedData {
  return {
    domain: {
      name: "DSC Federation Guardian",
      version: "1",
      chainId: BigInt(domain.chainId),
      verifyingContract: getAddress(domain.guardianPause),
    },
    types: BREACH_TYPES,
    primaryType: "BreachReport",
    message: {
      federation: domain.federation,
      agent: getAddress(report.agent),
      scope: report.scope,
      severity: report.severity,
      evidenceHash: report.evidenceHash.toLowerCase() as Hex,
      observedAt: BigInt(observedSeconds(report.observedAt)),
    },
  };
}

/** The report's identity: its EIP-712 hash, the token replay protection keeps. */
export function breachHash(domain: BreachDomain, report: BreachReport): Hex {
  return hashTypedData(breachTypedData(domain, report));
}

/** The agent's EIP-712 signature of the report (65 bytes), for the CLI and tests. */
export function signBreachReport(domain: BreachDomain, report: BreachReport, privateKey: Hex): Promise<Hex> {
  return privateKeyToAccount(privateKey).signTypedData(breachTypedData(domain, report));
}

export type BreachReason = "Malformed" | "BadSignature" | "Stale" | "FromFuture" | "Replayed";

type BreachJudgement =
  | {
      readonly ok: true;
      readonly hash: Hex;
      readonly signer: Address;
      /** The report as validated, the agent's address checksummed. */
      readonly report: BreachReport;
    }
  | { readonly ok: false; readonly hash?: Hex; readonly reason: BreachReason; readonly message: string };

export interface JudgeOptions {
  /** Unix milliseconds. */
  readonly nowMs: number;
  /** Reports observed longer ago are Stale. */
  readonly maxAgeSeconds: number;
  /** How far in the future a report may be dated (clock skew); 60 by default. */
  readonly maxSkewSeconds?: number;
  /** Whether a report with this hash was already taken. Asked last, of signed and timely reports only. */
  readonly seen: (hash: Hex) => boolean;
}

const DEFAULT_MAX_SKEW_SECONDS = 60;

/** At most this many field errors are named in one message. */
const MAX_ERRORS = 5;

/**
 * Judges a report and its signature, as they came (from a BreachReport's spec
 * or the HTTP endpoint): fields, signature, age, replay, in that order, so
 * that `seen` only needs to remember hashes for maxAge + maxSkew. Never
 * throws on what the report or signature hold; a bad `domain` is the
 * caller's error and throws.
 */
export async function judgeReport(
  domain: BreachDomain,
  report: unknown,
  signature: unknown,
  options: JudgeOptions,
): Promise<BreachJudgement> {
  const read = readReport(report, signature);
  if (!read.ok) return { ok: false, reason: "Malformed", message: read.message };
  const { report: normal, signature: sig } = read;
  const typed = breachTypedData(domain, normal);
  const hash = hashTypedData(typed);
  const refuse = (reason: BreachReason, message: string): BreachJudgement => ({
    ok: false,
    hash,
    reason,
    message,
  });

  if (size(sig) !== 65)
    return refuse("BadSignature", `spec.signature: must be 65 bytes (r, s, v), got ${size(sig)}`);
  let signer: Address;
  try {
    signer = await recoverTypedDataAddress({ ...typed, signature: sig });
  } catch {
    return refuse("BadSignature", "spec.signature: no signer can be recovered from it");
  }
  if (signer !== normal.agent)
    return refuse(
      "BadSignature",
      `spec.signature is not ${normal.agent}'s signature of this report (it recovers to ${signer})`,
    );

  const observedMs = Number(typed.message.observedAt) * 1000;
  const maxSkew = options.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
  const ahead = (observedMs - options.nowMs) / 1000;
  // Written so that a NaN refuses: nothing unmeasured passes.
  if (!(ahead <= maxSkew))
    return refuse(
      "FromFuture",
      `spec.observedAt ${normal.observedAt} is ${seconds(ahead)} ahead of this operator's clock (at most ${maxSkew} s allowed)`,
    );
  if (!(-ahead <= options.maxAgeSeconds))
    return refuse(
      "Stale",
      `spec.observedAt ${normal.observedAt} is ${seconds(-ahead)} old (at most ${options.maxAgeSeconds} s allowed)`,
    );
  if (options.seen(hash)) return refuse("Replayed", `this report (${hash}) was already received`);
  return { ok: true, hash, signer, report: normal };
}

const seconds = (s: number): string => `${String(Math.round(s))} s`;

type Read =
  | { readonly ok: true; readonly report: BreachReport; readonly signature: Hex }
  | { readonly ok: false; readonly message: string };

/**
 * The report and signature validated, or every problem with them, each named
 * by its path. The report is copied first, so that a getter or proxy is read
 * once: what is checked is what is signed.
 */
function readReport(report: unknown, signature: unknown): Read {
  const errors: FieldError[] = [];
  let copy: unknown = report;
  try {
    if (typeof report === "object" && report !== null && !Array.isArray(report)) copy = { ...report };
    if (breachReport.check(copy, "spec", errors)) {
      const { agent, observedAt } = copy;
      if (!checksumOk(agent))
        errors.push({ path: "spec.agent", message: `${agent} fails its EIP-55 checksum (mixed case)` });
      try {
        observedSeconds(observedAt);
      } catch (error) {
        errors.push({
          path: "spec.observedAt",
          message: (error as Error).message.replace(/^spec\.observedAt: /, ""),
        });
      }
    }
    hexBytes().check(signature, "spec.signature", errors);
  } catch {
    // A getter or proxy that throws, a BigInt that JSON cannot show: not a report.
    return { ok: false, message: "spec: cannot be read as a breach report" };
  }
  if (errors.length > 0) {
    const named = errors.slice(0, MAX_ERRORS).map((e) => `${e.path}: ${e.message}`);
    if (errors.length > MAX_ERRORS) named.push(`(and ${String(errors.length - MAX_ERRORS)} more)`);
    return { ok: false, message: named.join("; ") };
  }
  const valid = copy as BreachReport;
  return {
    ok: true,
    report: {
      agent: getAddress(valid.agent),
      scope: valid.scope,
      severity: valid.severity,
      evidenceHash: valid.evidenceHash.toLowerCase() as Hex,
      observedAt: valid.observedAt,
    },
    signature: signature as Hex,
  };
}

/** EIP-55: all lower or all upper case carries no checksum; mixed case must match it. */
function checksumOk(address: string): boolean {
  const digits = address.slice(2);
  if (digits === digits.toLowerCase() || digits === digits.toUpperCase()) return true;
  return getAddress(address) === address;
}
