// What this region tells the federation state about its ConsortiumManifests,
// and what it reads back for their status:
// - a version it verified here (a submission, or a mirrored one) goes into the
//   state with the approvals its spec carries, and its spec into the spec
//   store, as it is applied here, so the other regions start at once;
// - after each reconcile, this region's outcome for the manifest, so every
//   region shows where a manifest stands;
// - the membership the Federation spec declares.
// Each writes only what the state lacks: a resync of an unchanged manifest
// writes no change.
import {
  manifestObjects,
  type ConsortiumManifestSpec,
  type SignedSafe,
} from "../api/v1alpha1/consortium-manifest.ts";
import { parse } from "../api/schema.ts";
import { canonicalJson } from "../core/manifest/canonical.ts";
import type { FederationState } from "../state/federation-state.ts";
import type { Member, RegionState } from "../state/model.ts";
import type { AppliedVersion } from "../core/approval/policy.ts";
import { TIERS, type Tier } from "../api/v1alpha1/fields.ts";
import {
  appliedByRegion,
  approvals as approvalsOf,
  highestApplied,
  members,
  versionRecords,
  versions,
} from "../state/readers.ts";
import type { SpecStore } from "../state/spec-store.ts";
import { BOUNDS } from "../state/validate.ts";
import type { Draft } from "../state/transitions.ts";
import type { SpecExchange } from "./spec-exchange.ts";
import { keptApproval } from "./spec-messages.ts";

/** Where a manifest stands in one region, as the state says. */
export interface RegionEntry {
  readonly region: string;
  readonly state: string;
  readonly nonce?: number;
}

/** The outcome of one reconcile, for the state. */
export interface ReconcileRecord {
  readonly state: RegionState;
  readonly digest: string;
  readonly nonce: number;
}

/** A version's objects, as the spec store holds them. */
export interface AppliedObjects {
  readonly digest: string;
  readonly nonce: number;
  readonly objects: readonly Record<string, unknown>[];
}

/**
 * The objects of a stored spec, as spec.objects is checked; none when they fail that check
 * (the spec store checks a spec against its digest, not against the schema).
 */
function objectsOf(json: string): readonly Record<string, unknown>[] {
  try {
    return parse(manifestObjects, (JSON.parse(json) as { objects?: unknown }).objects, "spec.objects");
  } catch {
    return [];
  }
}

/** The form a spec is stored and sent in: canonical JSON, without signatures (they are in the state). */
export const specJson = (spec: ConsortiumManifestSpec): string =>
  canonicalJson({ ...spec, signatures: undefined });

interface ManifestRecordsOptions {
  readonly region: string;
  readonly state: FederationState;
  readonly specs: SpecStore;
  readonly exchange: SpecExchange;
  readonly now: () => number;
  /** A spec's digest as verification computes it; undefined while it cannot be (no Federation yet). */
  readonly digestOf?: (id: string, spec: ConsortiumManifestSpec) => string | undefined;
}

/** Digests offered ahead, and the peers each went to, remembered so each goes once: the last few hundred. */
const MAX_OFFERED_AHEAD = 256;

export class ManifestRecords {
  readonly #o: ManifestRecordsOptions;
  readonly #offeredAhead = new Map<string, ReadonlySet<string>>();

  constructor(options: ManifestRecordsOptions) {
    this.#o = options;
  }

  /**
   * Offers a version this region is about to verify to the peers, with a
   * hint, so that each can verify it beside this region instead of after
   * this region's state change names it. Once per digest, and only for a
   * version the state does not name yet: any other is on its way already.
   */
  offerAhead(id: string, spec: ConsortiumManifestSpec): void {
    const digest = this.#o.digestOf?.(id, spec);
    if (digest === undefined || this.#offeredAhead.has(digest)) return;
    if (versions(this.#o.state.doc, id).some((v) => v.digest === digest)) return;
    // The approvals the state change will carry (#versionEdit), so that what the peers verify
    // early is what their mirror's check asks of the same block: each once, none the state
    // could not keep (a peer refuses a hint that carries one).
    const approvals = new Map<string, { safe: SignedSafe; data: string }>();
    for (const s of spec.signatures ?? []) {
      const data = s.data.toLowerCase();
      if (keptApproval(digest, s.safe, data)) approvals.set(`${s.safe} ${data}`, { safe: s.safe, data });
    }
    const signatures = [...approvals.values()].slice(0, BOUNDS.approvalsPerVersion);
    this.#offeredAhead.set(
      digest,
      new Set(this.#o.exchange.offer(digest, specJson(spec), { id, signatures })),
    );
    for (const old of this.#offeredAhead.keys()) {
      if (this.#offeredAhead.size <= MAX_OFFERED_AHEAD) break;
      this.#offeredAhead.delete(old);
    }
  }

  /** A version this region verified, handed to the state (and the other regions) as it is applied here. */
  async submit(id: string, spec: ConsortiumManifestSpec, digest: string): Promise<void> {
    const { edit, written } = this.#versionEdit(id, spec, digest);
    await Promise.all([written, edit && this.#o.state.change(edit)]);
  }

  /** What a reconcile tells the state: the version and approvals it lacks, and this region's outcome. */
  async recordReconcile(id: string, spec: ConsortiumManifestSpec, outcome: ReconcileRecord): Promise<void> {
    const { edit: version, written } = this.#versionEdit(id, spec, outcome.digest);
    await written;
    const mine = appliedByRegion(this.#o.state.doc, id).find((a) => a.region === this.#o.region);
    const sameOutcome =
      mine?.digest === outcome.digest && mine.state === outcome.state && mine.nonce === outcome.nonce;
    if (!version && sameOutcome) return;
    await this.#o.state.change((d) => {
      version?.(d);
      if (!sameOutcome) {
        d.recordApplied({
          id,
          region: this.#o.region,
          nonce: outcome.nonce,
          digest: outcome.digest,
          state: outcome.state,
          at: this.#o.now(),
        });
      }
    });
  }

  /**
   * The highest version this region applied, as the state keeps it: what
   * stays final when the CR's status is lost. Its tier is read from the
   * spec store; unknown if the spec is not held.
   */
  async applied(id: string): Promise<AppliedVersion | undefined> {
    const a = highestApplied(this.#o.state.doc, id, this.#o.region);
    if (!a) return undefined;
    const json = await this.#o.specs.get(a.digest);
    let tier: Tier | undefined;
    try {
      const parsed = json === undefined ? undefined : (JSON.parse(json) as { tier?: unknown }).tier;
      tier = TIERS.find((t) => t === parsed);
    } catch {
      tier = undefined;
    }
    return { nonce: a.nonce, digest: a.digest, tier };
  }

  /**
   * The highest version the state says this region applied, with its objects from the spec
   * store, unless its digest is one of `except`. It is how a region finds what it applied just
   * before a crash, when its status never said so. Undefined when there is none, or when its
   * spec is not held.
   */
  async appliedObjects(id: string, except: readonly string[]): Promise<AppliedObjects | undefined> {
    const a = highestApplied(this.#o.state.doc, id, this.#o.region);
    if (!a || except.some((d) => d.toLowerCase() === a.digest.toLowerCase())) return undefined;
    const json = await this.#o.specs.get(a.digest);
    return json === undefined ? undefined : { digest: a.digest, nonce: a.nonce, objects: objectsOf(json) };
  }

  /** Where a manifest stands in every region it targets; a region on another version is Pending. */
  regions(
    id: string,
    targets: readonly string[],
    winnerDigest: string | undefined,
  ): { regions: RegionEntry[]; summary: string } {
    const applied = appliedByRegion(this.#o.state.doc, id);
    const regions = [...targets].sort().map((region): RegionEntry => {
      const a = applied.find((x) => x.region === region);
      if (!a) return { region, state: "Pending" };
      const current = winnerDigest === undefined || a.digest === winnerDigest;
      return { region, state: current ? a.state : "Pending", nonce: a.nonce };
    });
    const mark = (state: string): string => (state === "Applied" ? "✓" : state.toLowerCase());
    return { regions, summary: regions.map((r) => `${r.region} ${mark(r.state)}`).join(" ") };
  }

  /** The membership the Federation spec declares (this region and its peers). */
  async setMembers(list: readonly Member[]): Promise<void> {
    const current = JSON.stringify(members(this.#o.state.doc));
    const wanted = JSON.stringify([...list].sort((a, b) => a.region.localeCompare(b.region)));
    if (current === wanted) return;
    await this.#o.state.change((d) => {
      for (const m of list) d.setMember(m);
    });
  }

  /**
   * The edit that puts a version, and the approvals its spec carries, into
   * the state: only what the state lacks, or nothing at all; and the spec's
   * write to the store. The spec is readable from the store at once (so
   * this region can serve any peer the state change reaches), and offered
   * to the peers ahead of the sync message that names it; the caller waits
   * for its write beside the state's, one disk round instead of two.
   */
  #versionEdit(
    id: string,
    spec: ConsortiumManifestSpec,
    digest: string,
  ): { readonly edit: ((d: Draft) => void) | undefined; readonly written: Promise<void> } {
    const doc = this.#o.state.doc;
    const known =
      versions(doc, id).some((v) => v.digest === digest) ||
      versionRecords(doc, id) >= BOUNDS.versionRecordsPerManifest;
    const seen = new Set(approvalsOf(doc, digest).map((a) => `${a.safe} ${a.data.toLowerCase()}`));
    // Within the bounds every peer enforces (state/validate.ts): a change past them is refused
    // whole by the peers, so this region writes only what fits. The state carries approvals for
    // convenience; each region also reads them from the chain and the Safe service.
    const fresh = (spec.signatures ?? [])
      .map((s) => ({ safe: s.safe, data: s.data.toLowerCase() }))
      .filter((a) => !seen.has(`${a.safe} ${a.data}`))
      .slice(0, Math.max(0, BOUNDS.approvalsPerVersion - seen.size));
    // Verified by the caller: it may still be missing from the store.
    let written = Promise.resolve();
    if (!known || !this.#o.specs.has(digest)) {
      const json = specJson(spec);
      written = this.#o.specs.put(digest, json); // a no-op if held
      // Ahead of the sync message that will name it, so peers need not ask: to every peer the
      // offer ahead did not reach (one that connected since, say).
      if (!known) this.#o.exchange.offer(digest, json, undefined, this.#offeredAhead.get(digest));
    }
    if (known && fresh.length === 0) return { edit: undefined, written };
    return {
      written,
      edit: (d) => {
        if (!known)
          d.submit({ id, nonce: spec.nonce, digest, region: this.#o.region, submittedAt: this.#o.now() });
        if (fresh.length > 0) d.approve(digest, fresh);
      },
    };
  }
}
