// The one verifier of a region: the mirror and the manifest controller both
// verify through it, against the federation as the Federation controller last
// read it, and share what one verification read at a pinned block.
import type { AdoptedPolicy } from "../core/approval/federation-policy.ts";
import type { FederationContext } from "../federation/context.ts";
import { verifyManifest, VerifiedAtBlock, type ManifestInput, type VerificationReport } from "./verify.ts";

export class Verifier {
  readonly #reuse = new VerifiedAtBlock();
  readonly #operatorNamespace: string;
  readonly #policy: () => AdoptedPolicy;

  /** `policy` is the federation's policy in force in this region (state/policy-ledger.ts). */
  constructor(operatorNamespace: string, policy: () => AdoptedPolicy) {
    this.#operatorNamespace = operatorNamespace;
    this.#policy = policy;
  }

  verify(federation: FederationContext, input: ManifestInput): Promise<VerificationReport> {
    return verifyManifest(
      {
        chain: federation.chain,
        service: federation.service,
        federationName: federation.name,
        federation: federation.spec,
        operatorNamespace: this.#operatorNamespace,
        reuse: this.#reuse,
        policy: this.#policy().policy,
      },
      input,
    );
  }
}
