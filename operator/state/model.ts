// The plain values that go into and come out of the federation document, and
// the checks that keep them from breaking its flat, space-separated keys.
import { MANIFEST_STATES, type SignedSafe } from "../api/v1alpha1/consortium-manifest.ts";
import { REGION_NAME } from "../api/v1alpha1/fields.ts";

export type { SignedSafe };

/** What a region says about one manifest id in its own cluster. */
export type RegionState = (typeof MANIFEST_STATES)[number] | "NotTargeted";

/** A manifest version as one region submitted it. */
export interface ManifestVersion {
  readonly id: string;
  readonly nonce: number;
  readonly digest: string;
  readonly region: string;
  readonly submittedAt: number;
}

export interface Submission extends ManifestVersion {
  /** Canonical JSON of the spec the digest covers. */
  readonly spec: string;
}

export interface Approval {
  readonly safe: SignedSafe;
  readonly data: string;
}

export interface AppliedState {
  readonly region: string;
  readonly nonce: number;
  readonly digest: string;
  readonly state: RegionState;
  /** When the region entered this state (ms). */
  readonly at: number;
}

export interface AppliedInput extends AppliedState {
  readonly id: string;
}

export interface Member {
  readonly region: string;
  readonly dsp: string;
  readonly safe: string;
  /** host:port of the region's sync endpoint. */
  readonly endpoint: string;
  /** SHA-256 fingerprint of the region's client certificate. */
  readonly fingerprint: string;
}

export class StateInputError extends Error {
  override name = "StateInputError";
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;
const DIGEST = /^0x[0-9a-f]{64}$/;
const HEX = /^0x([0-9a-f]{2})*$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const NO_SPACE = /^\S+$/;
const STATES: readonly string[] = [...MANIFEST_STATES, "NotTargeted"];

function check(ok: boolean, what: string, value: unknown): void {
  if (!ok) throw new StateInputError(`${what}: ${JSON.stringify(value)} is not valid`);
}

/** `namespace/name`, as Kubernetes spells them. */
export function checkId(id: string): string {
  const [namespace = "", name = "", ...rest] = id.split("/");
  check(DNS_LABEL.test(namespace) && DNS_SUBDOMAIN.test(name) && rest.length === 0, "manifest id", id);
  return id;
}

export function checkRegion(region: string): string {
  check(REGION_NAME.test(region), "region", region);
  return region;
}

/** Lower-cased, so one digest has one key everywhere. */
export function checkDigest(digest: string): string {
  const lower = digest.toLowerCase();
  check(DIGEST.test(lower), "digest", digest);
  return lower;
}

export function checkHex(data: string): string {
  const lower = data.toLowerCase();
  check(HEX.test(lower), "hex data", data);
  return lower;
}

export function checkNonce(nonce: number): number {
  check(Number.isSafeInteger(nonce) && nonce >= 0, "nonce", nonce);
  return nonce;
}

export function checkTime(ms: number): number {
  check(Number.isSafeInteger(ms) && ms >= 0, "time (ms)", ms);
  return ms;
}

export function checkSafe(safe: string): SignedSafe {
  check(safe === "consortium" || safe === "board", "safe", safe);
  return safe as SignedSafe;
}

export function checkState(state: string): RegionState {
  check(STATES.includes(state), "state", state);
  return state as RegionState;
}

export function checkAddress(address: string): string {
  check(ADDRESS.test(address), "address", address);
  return address;
}

export function checkToken(value: string, what: string): string {
  check(NO_SPACE.test(value), what, value);
  return value;
}

/** Where a pause came from: an agent's signed report, an Alertmanager alert, or the chain. */
const PAUSE_SOURCES = ["agent", "alertmanager", "chain", "log"] as const;
export type PauseSource = (typeof PAUSE_SOURCES)[number];

/**
 * One region's record of a guardian pause. `token` is unique per pause (a
 * report's EIP-712 hash, an alert's identity, a chain pause id): pauses are a
 * set of tokens, so a concurrent new pause is never lost to a resume, which
 * names the tokens it lifts.
 */
export interface PauseRecord {
  readonly token: string;
  /** The region that accepted it. */
  readonly region: string;
  readonly source: PauseSource;
  /** The agent, "alertmanager", or the guardian address on chain. */
  readonly by: string;
  /** The agent's DSP Safe, or "-". */
  readonly dsp: string;
  readonly severity: string;
  /** 0x-prefixed bytes32. */
  readonly evidence: string;
  /** Free text (the report's scope, the alert's name); at most 256 characters. */
  readonly reason: string;
  readonly at: number;
}

/** A verified resume manifest's effect in one region: these tokens no longer pause. */
export interface ResumeInput {
  readonly tokens: readonly string[];
  /** namespace/name of the resume manifest. */
  readonly manifest: string;
  readonly region: string;
  readonly at: number;
}

const TOKEN = /^[A-Za-z0-9:_.-]{1,100}$/;

export function checkPauseToken(token: string): string {
  check(TOKEN.test(token), "pause token", token);
  return token;
}

export function checkPauseSource(source: string): PauseSource {
  check((PAUSE_SOURCES as readonly string[]).includes(source), "pause source", source);
  return source as PauseSource;
}

/** Printable text without line breaks, for the last (free) word of a key. */
export function checkReason(reason: string): string {
  check(reason.length <= 256 && !/\p{Cc}/u.test(reason), "reason", reason);
  return reason;
}
