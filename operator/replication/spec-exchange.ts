// The spec exchange: the federation document names each version's spec by
// digest, and this fetches the ones this region lacks from its peers. A spec
// is stored only once it matches its digest (`matches` re-derives the digest
// from the spec), so a peer can withhold a spec but never substitute one; any
// peer that holds it will do, and it is asked again until one answers.
//
// The region that submits a version offers its spec to every peer at once,
// ahead of the sync message that names it, so a manifest's first trip costs no
// extra round trip. An offer is only held (a bounded few), unchecked, until
// the version that names it arrives; then it is checked like any answer. So
// is each spec an older state held in itself (the store's unchecked ones),
// all at once when the federation is first known (`checkMigrated`).
//
// A region offers a spec it is about to verify with a hint (spec-messages.ts),
// before its state change names the version, so that each peer may verify it
// beside the sender (`early`); the offer is held like any other.
import type { Logger } from "pino";
import { errorMessage } from "../runtime/errors.ts";
import { trace } from "../runtime/trace.ts";
import type { ManifestVersion } from "../state/model.ts";
import type { SpecStore } from "../state/spec-store.ts";
import {
  decodeSpecMessage,
  encodeSpecMessage,
  MAX_WANT,
  type SpecHint,
  type SpecMessage,
} from "./spec-messages.ts";

/** While specs are missing, peers are asked again this often (a peer may not have had them yet). */
export const ASK_AGAIN_MS = 2000;
/** Offers held until the version naming them arrives; beyond these the oldest go (and are asked for). */
export const MAX_OFFERS = 256;
const MAX_OFFER_BYTES = 8 * 1024 * 1024;
/** Who sent a spec the older state held: named in the log, never refused as a peer. */
const MIGRATED = "the state before the upgrade";

interface SpecExchangeOptions {
  readonly specs: SpecStore;
  /** Sends on the SPECS channel; false if the peer is not connected. */
  readonly send: (peer: string, bytes: Uint8Array) => boolean;
  /** Connected peers. */
  readonly peers: () => readonly string[];
  /**
   * Whether `json` is the spec of manifest `id` whose digest is `digest`;
   * undefined if that cannot be told yet (the spec is asked for again later).
   */
  readonly matches: (id: string, digest: string, json: string) => boolean | undefined;
  /** A missing spec arrived and is stored. */
  readonly arrived: (id: string) => void;
  /**
   * An offer with a hint, for a version no state change named yet: the peer
   * is verifying it, and this region may too. Told when the offer is first
   * held (again only if it was dropped meanwhile, MAX_OFFERS); it decides
   * nothing (the version is mirrored once the state names it).
   */
  readonly early?: (peer: string, digest: string, json: string, hint: SpecHint) => void;
  /** A message that was refused (malformed, or a spec that does not match its digest). */
  readonly refused: (peer: string, reason: string) => void;
  readonly logger: Logger;
}

export class SpecExchange {
  readonly #o: SpecExchangeOptions;
  /** digest -> manifest id, for every version whose spec this region lacks. */
  readonly #missing = new Map<string, string>();
  /** Digests being written, so two peers' answers do not race on one file. */
  readonly #storing = new Set<string>();
  /** digest -> an unasked spec a peer offered, in arrival order. */
  readonly #offers = new Map<string, { readonly peer: string; readonly json: string }>();
  #offerBytes = 0;
  #askSoon: NodeJS.Immediate | undefined;
  #askAgain: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: SpecExchangeOptions) {
    this.#o = options;
  }

  /** Digests this region lacks, to be asked for. */
  get missing(): number {
    return this.#missing.size;
  }

  /** Notes that `version`'s spec is needed; it is asked for shortly, with any other needs. */
  need(version: ManifestVersion): void {
    if (this.#closed || this.#o.specs.has(version.digest) || this.#missing.has(version.digest)) return;
    this.#missing.set(version.digest, version.id);
    const offer = this.#take(version.digest);
    if (offer) {
      this.#storeLogged(offer.peer, version.digest, offer.json);
      return;
    }
    this.#askSoon ??= setImmediate(() => {
      this.#askSoon = undefined;
      this.#askEveryone();
    });
  }

  /**
   * After a rebase: stops asking for specs of versions the document no longer names (they were
   * collected; the peers may have removed their specs too).
   */
  forgetUnless(named: ReadonlySet<string>): void {
    for (const digest of [...this.#missing.keys()]) if (!named.has(digest)) this.#missing.delete(digest);
  }

  /**
   * Sends a spec to every peer but `except`, before they ask: one this region
   * submits, or (with a hint) one it is about to verify. Returns the peers it
   * went to.
   */
  offer(digest: string, json: string, hint?: SpecHint, except?: ReadonlySet<string>): string[] {
    const bytes = encodeSpecMessage({
      kind: "spec",
      digest: digest.toLowerCase(),
      json,
      ...(hint && { hint }),
    });
    return this.#o.peers().filter((peer) => !except?.has(peer) && this.#o.send(peer, bytes));
  }

  /** A peer (re)connected: it may hold what the others did not. */
  connected(peer: string): void {
    this.#ask(peer);
  }

  async receive(peer: string, bytes: Uint8Array): Promise<void> {
    const decoded = decodeSpecMessage(bytes);
    if (!decoded.ok) {
      this.#o.refused(peer, decoded.reason);
      return;
    }
    const message = decoded.message;
    if (message.kind === "want") {
      await this.#answer(peer, message.digests);
      return;
    }
    // Told early only of a spec this region first holds now: not one a version named already
    // (its check is under way), nor one held or stored before.
    const { hint, digest, json } = message;
    const fresh = !this.#missing.has(digest) && !this.#offers.has(digest) && !this.#o.specs.has(digest);
    await this.#store(peer, digest, json);
    if (hint && fresh && this.#offers.has(digest)) this.#o.early?.(peer, digest, json, hint);
  }

  close(): void {
    this.#closed = true;
    if (this.#askSoon) clearImmediate(this.#askSoon);
    clearTimeout(this.#askAgain);
  }

  async #answer(peer: string, digests: readonly string[]): Promise<void> {
    for (const digest of digests) {
      const json = await this.#o.specs.get(digest);
      if (json === undefined) continue;
      if (!this.#o.send(peer, encodeSpecMessage({ kind: "spec", digest, json }))) return;
    }
  }

  /**
   * Checks every spec an older state held (migrate.ts) as a peer's answer is checked: stored if
   * it matches its digest, dropped if it does not or no version names it. Returns false if the
   * digests cannot be told yet (no federation): call again later.
   */
  async checkMigrated(idOf: (digest: string) => string | undefined): Promise<boolean> {
    const drop: string[] = [];
    try {
      for (const digest of this.#o.specs.uncheckedDigests()) {
        const id = idOf(digest);
        const json = id === undefined ? undefined : await this.#o.specs.unchecked(digest);
        if (id === undefined || json === undefined) {
          drop.push(digest); // no version names it any more
          continue;
        }
        const matches = this.#o.matches(id, digest, json);
        if (matches === undefined) return false;
        if (!matches) {
          this.#o.logger.warn(
            { digest, id },
            "a spec the state held before the upgrade does not match its digest: dropped",
          );
          drop.push(digest);
          continue;
        }
        this.#missing.set(digest, id);
        await this.#store(MIGRATED, digest, json);
      }
      return true;
    } finally {
      await this.#o.specs.dropUnchecked(drop);
    }
  }

  #storeLogged(peer: string, digest: string, json: string): void {
    this.#store(peer, digest, json).catch((error: unknown) => {
      this.#o.logger.warn({ digest, err: errorMessage(error) }, "spec not stored");
    });
  }

  async #store(peer: string, digest: string, json: string): Promise<void> {
    const id = this.#missing.get(digest);
    if (id === undefined) {
      // An offer ahead of its version (held), or a second peer's answer (dropped).
      if (!this.#o.specs.has(digest)) this.#hold(peer, digest, json);
      return;
    }
    if (this.#storing.has(digest)) return;
    const matches = this.#o.matches(id, digest, json);
    if (matches !== true) {
      if (matches === false)
        this.#o.refused(peer, `the spec sent for ${digest} (${id}) does not match that digest`);
      // Not at once: a peer that keeps sending a wrong spec must not set off a loop.
      this.#askLater();
      return;
    }
    this.#storing.add(digest);
    trace(id, "spec received", { peer });
    // Readable from the store at once, so the mirror need not wait for the disk: a spec lost in a
    // crash is asked for again, as the state still names its version.
    const written = this.#o.specs.put(digest, json);
    this.#missing.delete(digest);
    this.#o.arrived(id);
    try {
      await written;
      trace(id, "spec stored");
    } catch (error) {
      // Missing again: the next ask fetches it again.
      this.#o.logger.warn({ digest, err: errorMessage(error) }, "could not store a spec");
      this.#missing.set(digest, id);
      this.#askLater();
    } finally {
      this.#storing.delete(digest);
    }
  }

  #hold(peer: string, digest: string, json: string): void {
    if (json.length > MAX_OFFER_BYTES) return;
    this.#take(digest);
    this.#offers.set(digest, { peer, json });
    this.#offerBytes += json.length;
    for (const oldest of this.#offers.keys()) {
      if (this.#offers.size <= MAX_OFFERS && this.#offerBytes <= MAX_OFFER_BYTES) break;
      this.#take(oldest);
    }
  }

  #take(digest: string): { readonly peer: string; readonly json: string } | undefined {
    const offer = this.#offers.get(digest);
    if (offer) {
      this.#offers.delete(digest);
      this.#offerBytes -= offer.json.length;
    }
    return offer;
  }

  #askEveryone(): void {
    this.#o.logger.debug(
      { missing: [...this.#missing].slice(0, 20).map(([digest, id]) => `${id} ${digest}`) },
      "asking the peers for specs",
    );
    for (const peer of this.#o.peers()) this.#ask(peer);
  }

  #ask(peer: string): void {
    if (this.#closed) return;
    const digests = [...this.#missing.keys()];
    for (let i = 0; i < digests.length; i += MAX_WANT) {
      const want: SpecMessage = { kind: "want", digests: digests.slice(i, i + MAX_WANT) };
      if (!this.#o.send(peer, encodeSpecMessage(want))) break;
    }
    this.#askLater();
  }

  /** Bounded: the timer runs only while something is missing, and stops at close. */
  #askLater(): void {
    if (!this.#closed && this.#missing.size > 0 && this.#askAgain === undefined) {
      this.#askAgain = setTimeout(() => {
        this.#askAgain = undefined;
        if (this.#missing.size > 0) this.#askEveryone();
      }, ASK_AGAIN_MS);
      this.#askAgain.unref();
    }
  }
}
