// What a component needs of the federation state: the document as it is now,
// a way to change it, and word when it changed. The guardian and the manifest
// records depend on this, not on how the document is stored or replicated
// (replication/replica.ts), so they can be tested with a document in memory.
import type { StateDoc } from "./document.ts";
import type { Draft } from "./transitions.ts";

export interface FederationState {
  /** The document as this region holds it now. */
  readonly doc: StateDoc;
  /** Applies `edit` as one change; resolves once it is durable (and on its way to the peers). */
  change(edit: (draft: Draft) => unknown): Promise<void>;
  /** Called after every change, local or a peer's, as it is made, before it is durable (a pause must not wait for a disk). Returns how to stop listening. */
  onChange(listener: () => void): () => void;
}
