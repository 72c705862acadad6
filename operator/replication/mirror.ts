// The mirror controller: every manifest in the federation state exists in this
// cluster as a ConsortiumManifest holding its winning version, the highest
// nonce whose approvals this region itself verifies on chain (a peer's word is
// never enough). Keyed by manifest id (namespace/name) on the runtime's work
// queue, fed by the state's durable changes and by specs that arrive; the
// manifest controller then applies what the mirror wrote.
import {
  MAX_INLINE_SIGNATURES,
  type ConsortiumManifestSpec,
  type ObjectReference,
} from "../api/v1alpha1/consortium-manifest.ts";
import { errorMessage } from "../runtime/errors.ts";
import { API_VERSION } from "../api/v1alpha1/fields.ts";
import type { ReadManifest } from "../api/v1alpha1/objects.ts";
import type { Applier } from "../runtime/apply.ts";
import type { Reconciler } from "../runtime/controller.ts";
import { parseKey } from "../runtime/keys.ts";
import type { FederationState } from "../state/federation-state.ts";
import type { ManifestVersion } from "../state/model.ts";
import { approvals as approvalsOf, versions } from "../state/readers.ts";
import type { SpecStore } from "../state/spec-store.ts";
import type { SpecExchange } from "./spec-exchange.ts";
import { trace } from "../runtime/trace.ts";
import { FINALIZER } from "../manifests/labels.ts";

const ORIGIN_ANNOTATION = "dsc.federation.dev/origin-region";
const MIRRORED_NAMESPACE_LABEL = "dsc.federation.dev/mirrored";

export interface MirrorOptions {
  readonly state: FederationState;
  readonly specs: SpecStore;
  readonly exchange: SpecExchange;
  /** This cluster's ConsortiumManifests, read whole. */
  readonly read: ReadManifest;
  /**
   * Writes mirrored manifests. It must use a field manager of its own: with
   * server-side apply, a manager that applies without a field it owned
   * removes it, and the manifest controller's finalizer applies carry no spec.
   */
  readonly applier: Applier;
  /** Whether this region verifies a version (false while it cannot tell: no Federation yet). */
  readonly verified: (namespace: string, name: string, spec: ConsortiumManifestSpec) => Promise<boolean>;
  /** The digest of a spec, as verification computes it; undefined while it cannot be computed. */
  readonly digestOf: (namespace: string, name: string, spec: ConsortiumManifestSpec) => string | undefined;
  /** Whether this region can verify yet (it has a Federation); a new one queues every id again. */
  readonly ready: () => boolean;
  /**
   * Told of a version this region verified, as its manifest is written: the
   * reads its apply will make can start now, beside the write (objects.ts, LiveReads).
   */
  readonly verifiedVersion?: (
    namespace: string,
    name: string,
    spec: ConsortiumManifestSpec,
    /** What the version in place applied here (the manifest's status): the check reads none of it. */
    applied: readonly ObjectReference[],
  ) => void;
}

export function mirrorReconciler(options: MirrorOptions): Reconciler {
  // Namespaces made (or found) in this process need not be applied again.
  const namespaces = new Set<string>();
  return async (id, { log }) => {
    if (!options.ready()) return {};
    trace(id, "mirror");
    const { namespace = "", name } = parseKey(id);
    const all = versions(options.state.doc, id);
    if (all.length === 0) return {};
    const local = await options.read(namespace, name);
    // A manifest being deleted here is left to its deletion: no finalizer may be added to it
    // any more, and the version it would get goes with it. The next change of the id writes anew.
    if (local?.metadata?.deletionTimestamp) return {};
    const localDigest = local?.spec
      ? options.digestOf(namespace, name, local.spec as ConsortiumManifestSpec)
      : undefined;
    // Highest nonce first; the first this region verifies wins.
    for (const version of all) {
      const spec = await specOf(options, version);
      if (!spec) continue; // asked of the peers; its arrival queues this id again
      // The record's nonce is a peer's word; the spec's is covered by the digest. A record that
      // names a digest under another nonce would freeze or roll back the mirror: it is skipped.
      if (spec.nonce !== version.nonce) continue;
      if (version.digest === localDigest) return {}; // already holds the best version it can verify
      if (!(await options.verified(namespace, name, spec))) continue;
      trace(id, "mirror verified");
      try {
        options.verifiedVersion?.(namespace, name, spec, local?.status?.appliedObjects ?? []);
      } catch (error) {
        log.warn({ err: errorMessage(error) }, "could not start the reads the apply will make");
      }
      // An approved manifest may live in a namespace this cluster does not have yet.
      if (!namespaces.has(namespace)) {
        await options.applier.apply({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: namespace, labels: { [MIRRORED_NAMESPACE_LABEL]: "true" } },
        });
        namespaces.add(namespace);
      }
      // The manifest controller's finalizer comes with this write, so that its first pass has one
      // write fewer before the objects go out; it removes the finalizer whoever owns the entry.
      await options.applier.apply({
        apiVersion: API_VERSION,
        kind: "ConsortiumManifest",
        metadata: {
          name,
          namespace,
          annotations: { [ORIGIN_ANNOTATION]: version.region },
          finalizers: [FINALIZER],
        },
        spec,
      });
      trace(id, "mirror wrote the manifest");
      log.info(
        { nonce: version.nonce, digest: version.digest, from: version.region },
        "mirrored the winning version",
      );
      return {};
    }
    return {};
  };
}

/** A version's spec, with every approval any region has seen for its digest; asked for if missing. */
async function specOf(
  options: MirrorOptions,
  version: ManifestVersion,
): Promise<ConsortiumManifestSpec | undefined> {
  const text = await options.specs.get(version.digest);
  if (text === undefined) {
    trace(version.id, "spec needed");
    options.exchange.need(version);
    return undefined;
  }
  const spec = JSON.parse(text) as ConsortiumManifestSpec;
  const seen = approvalsOf(options.state.doc, version.digest);
  // The CRD's limit on inline approvals; the state holds no more per version (state/validate.ts).
  return seen.length > 0 ? { ...spec, signatures: seen.slice(0, MAX_INLINE_SIGNATURES) } : spec;
}
