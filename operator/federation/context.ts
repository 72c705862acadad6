// The federation this operator serves, as the Federation controller last read
// it: the spec, and the clients for the chain and the Safe service that it
// implies. The manifest controller verifies against whatever is current.
import type { FederationSpec } from "../api/v1alpha1/federation.ts";
import type { ChainReader } from "../chain/reader.ts";
import type { SafeService } from "../safe/service.ts";

export interface FederationContext {
  /** The Federation's name: the federation id every approval binds to. */
  readonly name: string;
  readonly spec: FederationSpec;
  readonly chain: ChainReader;
  readonly service: SafeService | undefined;
}
