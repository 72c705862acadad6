// Regions of the federation state in one process, for tests and the soak
// bench: each with its real store on disk, replica, peer sync and rebaser,
// joined by an in-memory channel in place of the mTLS transport (messages are
// delivered in order, a turn of the event loop later, as a socket would).
// Specs are put into each region's spec store directly: the exchange has its
// own tests, and here only the document and the stores' sizes matter.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { PeerSync, type PeerChannelName } from "../../operator/replication/peer-sync.ts";
import { Rebaser, type RebaseOutcome, type RebasePolicy } from "../../operator/replication/rebaser.ts";
import { Replica } from "../../operator/replication/replica.ts";
import { SpecExchange } from "../../operator/replication/spec-exchange.ts";
import type { SpecStore } from "../../operator/state/spec-store.ts";
import { StateStore } from "../../operator/state/store.ts";

const logger = pino({ level: "silent" });

/** A spec exchange that asks no one and stores nothing it is sent: for tests of the document alone. */
export const inertSpecExchange = (specs: SpecStore): SpecExchange =>
  new SpecExchange({
    specs,
    send: () => true,
    peers: () => [],
    matches: () => undefined,
    arrived: () => undefined,
    refused: () => undefined,
    logger,
  });

type Listener = (peer: string, bytes: Uint8Array, channel: PeerChannelName) => void;

export interface MemoryRegion {
  readonly region: string;
  readonly dir: string;
  readonly replica: Replica;
  readonly specs: SpecStore;
  readonly sync: PeerSync;
  readonly rebaser: Rebaser;
  readonly rebases: RebaseOutcome[];
  readonly refusals: string[];
  /** Sends a raw message to `peer` as this region, on any channel: what a hostile region can do. */
  send(peer: string, bytes: Uint8Array, channel: PeerChannelName): void;
}

interface Wire {
  onMessage?: Listener;
  onConnect?: (peer: string) => void;
  onDisconnect?: (peer: string) => void;
}

export class MemoryFederation {
  readonly regions = new Map<string, MemoryRegion>();
  readonly #names: readonly string[];
  readonly #policy: RebasePolicy;
  readonly #now: () => number;
  readonly #wires = new Map<string, Wire>();
  readonly #links = new Set<string>();
  /** Regions whose EPOCH messages are never delivered: stand-ins for the release before epochs. */
  readonly silent = new Set<string>();
  /** EPOCH frames sent to each region. */
  readonly epochFrames = new Map<string, number>();
  #inFlight = 0;

  private constructor(names: readonly string[], policy: RebasePolicy, now: () => number) {
    this.#names = names;
    this.#policy = policy;
    this.#now = now;
  }

  /** Starts every region, each with an empty state directory, all connected. */
  static async start(
    names: readonly string[],
    policy: RebasePolicy,
    now: () => number = Date.now,
    silent: readonly string[] = [],
  ): Promise<MemoryFederation> {
    const federation = new MemoryFederation(names, policy, now);
    for (const name of silent) federation.silent.add(name);
    for (const name of names) await federation.open(name, await mkdtemp(join(tmpdir(), `dsc-${name}-`)));
    for (const a of names) for (const b of names) if (a < b) federation.connect(a, b);
    return federation;
  }

  get(name: string): MemoryRegion {
    const region = this.regions.get(name);
    if (!region) throw new Error(`no region ${name}`);
    return region;
  }

  /** Opens a region from its state directory (again, after `stop`). */
  async open(name: string, dir: string): Promise<MemoryRegion> {
    const opened = await StateStore.open(dir);
    const wire: Wire = {};
    this.#wires.set(name, wire);
    const peers = this.#names.filter((n) => n !== name);
    const replica = new Replica({ store: opened.store, doc: opened.doc, now: this.#now, logger });
    const refusals: string[] = [];
    const exchange = inertSpecExchange(opened.specs);
    const send = (peer: string, bytes: Uint8Array, channel: PeerChannelName): boolean =>
      this.#deliver(name, peer, bytes, channel);
    const rebases: RebaseOutcome[] = [];
    const sync: PeerSync = new PeerSync({
      replica,
      exchange,
      syncStates: opened.syncStates,
      peerEpochs: opened.peerEpochs,
      refused: (peer, reason) => refusals.push(`${peer}: ${reason}`),
      now: this.#now,
      logger,
      onPeerEpoch: () => {
        rebaser.follow();
      },
      channel: {
        send: (peer, bytes, channel = "sync") => send(peer, bytes, channel),
        disconnect: (peer) => {
          this.disconnect(name, peer);
        },
        status: () => peers.map((region) => ({ region, connected: this.#linked(name, region) })),
        // The release before epochs speaks protocol 2 with everyone.
        protocol: (peer) => (this.silent.has(peer) || this.silent.has(name) ? 2 : 3),
        onConnect: (listener) => {
          wire.onConnect = listener;
        },
        onDisconnect: (listener) => {
          wire.onDisconnect = listener;
        },
        onMessage: (listener) => {
          wire.onMessage = listener;
        },
      },
    });
    const rebaser: Rebaser = new Rebaser({
      self: name,
      replica,
      specs: opened.specs,
      peers: () => peers,
      peerEpochs: () => sync.peerEpochs(),
      // The release before epochs never rebases either.
      policy: this.silent.has(name) ? { ...this.#policy, minBytes: Infinity } : this.#policy,
      now: this.#now,
      logger,
      rebased: (outcome) => rebases.push(outcome),
    });
    replica.onDurable(() => {
      rebaser.check();
    });
    const region: MemoryRegion = {
      region: name,
      dir,
      replica,
      specs: opened.specs,
      sync,
      rebaser,
      rebases,
      refusals,
      send: (peer, bytes, channel) => {
        send(peer, bytes, channel);
      },
    };
    this.regions.set(name, region);
    this.#stopping.set(name, async () => {
      rebaser.close();
      await rebaser.settled();
      exchange.close();
      await sync.close();
      await replica.close();
      await opened.specs.settled();
    });
    return region;
  }

  readonly #stopping = new Map<string, () => Promise<void>>();

  /** Stops a region as a crash-free shutdown would; its directory stays. */
  async stop(name: string): Promise<void> {
    for (const other of this.#names) if (other !== name) this.disconnect(name, other);
    await this.#stopping.get(name)?.();
    this.regions.delete(name);
    this.#wires.delete(name);
  }

  connect(a: string, b: string): void {
    if (this.#linked(a, b) || !this.regions.has(a) || !this.regions.has(b)) return;
    this.#links.add([a, b].sort().join(" "));
    this.#wires.get(a)?.onConnect?.(b);
    this.#wires.get(b)?.onConnect?.(a);
  }

  disconnect(a: string, b: string): void {
    if (!this.#linked(a, b)) return;
    this.#links.delete([a, b].sort().join(" "));
    this.#wires.get(a)?.onDisconnect?.(b);
    this.#wires.get(b)?.onDisconnect?.(a);
  }

  /** Resolves once no message is in flight, no rebase runs and every write has landed, twice in a row. */
  async settle(): Promise<void> {
    for (let quiet = 0; quiet < 2;) {
      await new Promise((resolve) => setImmediate(resolve));
      const busy = this.#inFlight > 0;
      for (const r of this.regions.values()) {
        await r.rebaser.settled();
        await r.replica.afterWrites(() => Promise.resolve());
      }
      quiet = busy || this.#inFlight > 0 ? 0 : quiet + 1;
    }
  }

  async close(): Promise<void> {
    const dirs = [...this.regions.values()].map((r) => r.dir);
    for (const name of [...this.regions.keys()]) await this.stop(name);
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  }

  #linked(a: string, b: string): boolean {
    return this.#links.has([a, b].sort().join(" "));
  }

  #deliver(from: string, to: string, bytes: Uint8Array, channel: PeerChannelName): boolean {
    if (!this.#linked(from, to)) return false;
    if (channel === "epoch" && this.silent.has(from)) return true;
    if (channel === "epoch") this.epochFrames.set(to, (this.epochFrames.get(to) ?? 0) + 1);
    this.#inFlight++;
    setImmediate(() => {
      this.#inFlight--;
      if (this.#linked(from, to)) this.#wires.get(to)?.onMessage?.(from, bytes, channel);
    });
    return true;
  }
}
