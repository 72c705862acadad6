// The federation this operator serves, as the Federation controller last read
// it: the spec, and the clients for the chain and the Safe service that it
// implies. The manifest controller verifies against whatever is current.
import type { FederationSpec } from "../api/v1alpha1/federation.ts";
import type { ChainReader } from "../chain/reader.ts";
import type { AnchorWriter } from "../chain/writers.ts";
import type { Hex } from "viem";
import type { SafeService } from "../safe/service.ts";
import { Topic } from "../runtime/topic.ts";

export interface FederationContext {
  /** The Federation's name: the federation id every approval binds to. */
  readonly name: string;
  readonly spec: FederationSpec;
  readonly chain: ChainReader;
  readonly service: SafeService | undefined;
  /** spec.guardian.alertmanager's bearer token, read from its Secret. */
  readonly alertmanagerToken?: string;
  /** Records a pause on chain with the guardian key (spec.guardian.guardianKeySecretRef); the new pause id. */
  readonly recordPause?: (evidence: Hex) => Promise<bigint>;
  /** Anchors this region's log on chain with its anchoring key (spec.log.anchor.anchorKeySecretRef). */
  readonly anchorLog?: AnchorWriter;
}

/**
 * The federation this operator serves, as the Federation controller last read
 * it: written by that controller, read by everything that verifies or pauses.
 * Listeners hear of a new context, or of the same one whose Safe owners changed
 * on chain: either way, what was verified against it must be verified anew.
 */
export class CurrentFederation {
  #context: FederationContext | undefined;
  readonly #changes = new Topic<FederationContext | undefined>();

  get(): FederationContext | undefined {
    return this.#context;
  }

  set(context: FederationContext | undefined): void {
    this.#context = context;
    this.#changes.publish(context);
  }

  /** Returns how to stop listening. */
  onChange(listener: (context: FederationContext | undefined) => void): () => void {
    return this.#changes.subscribe(listener);
  }
}
