// Leader election on a coordination.k8s.io/v1 Lease, after client-go's
// leaderelection package. Every write is a PUT carrying the resourceVersion
// that was read, so of two candidates racing for a free Lease exactly one
// wins (the other gets 409). A holder's Lease counts as expired when this
// candidate has seen no new version of it for leaseDurationSeconds, measured
// on its own monotonic clock: the holder's renewTime is never compared with
// local time, so clock skew between machines does not matter.
//
// The leader renews every retryPeriod; if no renewal succeeds for
// renewDeadline (< leaseDuration, so before anyone may take over), it stops
// leading. On stop() it stops its work first, then releases the Lease, so a
// successor takes over at its next retry instead of waiting out the lease.
import type { KubeAccess } from "../kube/access.ts";
import { httpStatus } from "../kube/errors.ts";
import { ObjectApi } from "../kube/objects-api.ts";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { leaderMetrics } from "./metrics.ts";
import { microTime } from "./time.ts";

export interface LeaseSpec {
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds?: number;
  readonly acquireTime?: string;
  readonly renewTime?: string;
  readonly leaseTransitions?: number;
}

/** A coordination.k8s.io/v1 Lease as JSON. */
export interface Lease {
  readonly apiVersion: "coordination.k8s.io/v1";
  readonly kind: "Lease";
  readonly metadata: { readonly name: string; readonly namespace: string; readonly resourceVersion?: string };
  readonly spec?: LeaseSpec;
}

/** Lease storage: the API server by default, a fake in tests. Errors carry the HTTP status (409 on conflict). */
export interface LeaseClient {
  /** undefined when there is no such Lease. */
  get(namespace: string, name: string): Promise<Lease | undefined>;
  create(lease: Lease): Promise<Lease>;
  /** Fails with 409 unless lease.metadata.resourceVersion is the stored one. */
  replace(lease: Lease): Promise<Lease>;
}

export function apiLeaseClient(kc: KubeAccess): LeaseClient {
  const api = ObjectApi.forConfig(kc);
  return {
    get: async (namespace, name) => {
      try {
        return await api.readRaw<Lease>({
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name, namespace },
        });
      } catch (err) {
        if (httpStatus(err) === 404) return undefined;
        throw err;
      }
    },
    create: (lease) => api.createRaw<Lease>(lease),
    replace: (lease) => api.replaceRaw<Lease>(lease),
  };
}

export type LeaseDecision =
  | { readonly action: "create" | "update"; readonly spec: LeaseSpec }
  | { readonly action: "wait"; readonly holder: string };

export interface LeaseDecisionInput {
  readonly lease: Lease | undefined;
  readonly identity: string;
  /** Monotonic time at which this candidate first saw the Lease's current version. */
  readonly observedAt: number;
  /** Monotonic time now. */
  readonly now: number;
  /** Wall-clock time now, written into the Lease for humans. */
  readonly wallNow: Date;
  readonly leaseDurationSeconds: number;
}

/** client-go's tryAcquireOrRenew, as a pure function: what to write, or whom to wait for. */
export function decideLease(input: LeaseDecisionInput): LeaseDecision {
  const time = microTime(input.wallNow);
  const { lease, identity, leaseDurationSeconds } = input;
  if (!lease) {
    return {
      action: "create",
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: time,
        renewTime: time,
        leaseTransitions: 0,
      },
    };
  }
  const spec = lease.spec ?? {};
  const holder = spec.holderIdentity ?? "";
  const duration = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
  if (holder !== "" && holder !== identity && input.observedAt + duration > input.now) {
    return { action: "wait", holder };
  }
  if (holder === identity) {
    return { action: "update", spec: { ...spec, leaseDurationSeconds, renewTime: time } };
  }
  return {
    action: "update",
    spec: {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      acquireTime: time,
      renewTime: time,
      leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
    },
  };
}

export interface LeaderElectorOptions {
  /** The Lease: one per operator deployment, e.g. "dsc-operator" in the operator's namespace. */
  readonly namespace: string;
  readonly name: string;
  /** Unique per candidate, e.g. the pod name. */
  readonly identity: string;
  readonly logger: Logger;
  /** Where the Lease lives (a KubeClient, or a client-node KubeConfig in tests); this or `client` is required. */
  readonly kubeConfig?: KubeAccess;
  readonly client?: LeaseClient;
  /** For leader_election_master_status{name}. */
  readonly registry?: Registry;
  /** client-go's defaults: 15 s, 10 s, 2 s. */
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** Called on becoming leader; `signal` aborts when leadership ends. Not awaited. */
  readonly onStartedLeading: (signal: AbortSignal) => unknown;
  /** Called when leadership ends (lost or stopped); awaited before the Lease is released or sought again. */
  readonly onStoppedLeading: () => unknown;
  /** Called when another identity is seen holding the Lease. */
  readonly onNewLeader?: (identity: string) => void;
  /** Monotonic milliseconds. */
  readonly now?: () => number;
  readonly wallClock?: () => Date;
  /** In [0, 1): spreads candidates' retries (client-go's jitter factor 1.2). */
  readonly random?: () => number;
}

const JITTER_FACTOR = 1.2;

export class LeaderElector {
  readonly identity: string;
  readonly #options: LeaderElectorOptions;
  readonly #client: LeaseClient;
  readonly #log: Logger;
  readonly #leaseMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryMs: number;
  readonly #now: () => number;
  readonly #wallClock: () => Date;
  readonly #random: () => number;
  readonly #setStatus: (leading: boolean) => void;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #observed: { readonly version: string; readonly at: number; readonly holder: string } | undefined;
  #lease: Lease | undefined; // as last written by us while leading
  #leading: AbortController | undefined;
  #lastRenew = 0;

  constructor(options: LeaderElectorOptions) {
    const client = options.client ?? (options.kubeConfig && apiLeaseClient(options.kubeConfig));
    if (!client) throw new Error("LeaderElector needs a kubeConfig or a client");
    this.#leaseMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryMs = options.retryPeriodMs ?? 2_000;
    // client-go's checks: the leader must give up before anyone may take over, and retry before giving up.
    if (this.#leaseMs <= this.#renewDeadlineMs)
      throw new Error("leaseDurationMs must exceed renewDeadlineMs");
    if (this.#renewDeadlineMs <= JITTER_FACTOR * this.#retryMs) {
      throw new Error(`renewDeadlineMs must exceed ${JITTER_FACTOR} × retryPeriodMs`);
    }
    if (this.#leaseMs % 1000 !== 0)
      throw new Error("leaseDurationMs must be whole seconds (the Lease stores seconds)");
    this.identity = options.identity;
    this.#options = options;
    this.#client = client;
    this.#log = options.logger.child({
      lease: `${options.namespace}/${options.name}`,
      identity: options.identity,
    });
    this.#now = options.now ?? (() => performance.now());
    this.#wallClock = options.wallClock ?? (() => new Date());
    this.#random = options.random ?? Math.random;
    this.#setStatus = leaderMetrics(options.registry, options.name);
  }

  isLeader(): boolean {
    return this.#leading !== undefined;
  }

  /** The holder this candidate last saw, if any. */
  leader(): string | undefined {
    return this.#observed?.holder || undefined;
  }

  /** Starts campaigning; runs until stop(), leading whenever it holds the Lease. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops campaigning; if leading, stops leading (awaiting onStoppedLeading) and releases the Lease. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    if (this.#leading) {
      await this.#stopLeading("stopped");
      await this.#release();
    }
  }

  async #run(): Promise<void> {
    while (this.#running) {
      if (!this.#leading) {
        if (await this.#attempt(this.#renewDeadlineMs)) {
          this.#startLeading();
          continue;
        }
        await this.#sleep(this.#retryMs * (1 + this.#random() * JITTER_FACTOR));
        continue;
      }
      await this.#sleep(this.#retryMs);
      if (this.#stopping()) return;
      const deadline = this.#lastRenew + this.#renewDeadlineMs;
      const renewed = await this.#attempt(Math.max(0, deadline - this.#now()));
      if (this.#stopping()) return;
      if (renewed) continue;
      const takenOver = this.#observed !== undefined && this.#observed.holder !== this.identity;
      if (takenOver || this.#now() >= deadline)
        await this.#stopLeading(takenOver ? "taken over" : "renew deadline");
    }
  }

  // A method, not the field: TypeScript would take the field to be unchanged across awaits.
  #stopping(): boolean {
    return !this.#running;
  }

  #startLeading(): void {
    const leading = new AbortController();
    this.#leading = leading;
    this.#setStatus(true);
    this.#log.info("became leader");
    void Promise.resolve()
      .then(() => this.#options.onStartedLeading(leading.signal))
      .catch((err: unknown) => {
        this.#log.error({ err }, "onStartedLeading failed");
      });
  }

  async #stopLeading(why: string): Promise<void> {
    const leading = this.#leading;
    if (!leading) return;
    this.#leading = undefined;
    this.#setStatus(false);
    this.#log.info({ why }, "stopped leading");
    leading.abort();
    try {
      await this.#options.onStoppedLeading();
    } catch (err) {
      this.#log.error({ err }, "onStoppedLeading failed");
    }
  }

  // One tryAcquireOrRenew, given at most `timeoutMs`: a hung request must not keep a leader past its deadline.
  async #attempt(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.#tryAcquireOrRenew(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.#options;
    try {
      const current = await this.#client.get(namespace, name);
      this.#observe(current);
      const decision = decideLease({
        lease: current,
        identity: this.identity,
        observedAt: this.#observed?.at ?? this.#now(),
        now: this.#now(),
        wallNow: this.#wallClock(),
        leaseDurationSeconds: this.#leaseMs / 1000,
      });
      if (decision.action === "wait") return false;
      const written =
        decision.action === "create" || !current
          ? await this.#client.create({
              apiVersion: "coordination.k8s.io/v1",
              kind: "Lease",
              metadata: { name, namespace },
              spec: decision.spec,
            })
          : await this.#client.replace({ ...current, spec: decision.spec });
      this.#observe(written);
      this.#lease = written;
      this.#lastRenew = this.#now();
      return true;
    } catch (err) {
      // 409: another candidate wrote first; it will show up at the next read.
      if (httpStatus(err) !== 409) this.#log.warn({ err }, "could not acquire or renew the Lease");
      return false;
    }
  }

  #observe(lease: Lease | undefined): void {
    const version = lease?.metadata.resourceVersion ?? "";
    if (this.#observed?.version === version) return;
    const holder = lease?.spec?.holderIdentity ?? "";
    const previous = this.#observed?.holder;
    this.#observed = { version, at: this.#now(), holder };
    if (holder !== "" && holder !== previous && holder !== this.identity) {
      this.#log.info({ leader: holder }, "new leader observed");
      try {
        this.#options.onNewLeader?.(holder);
      } catch (err) {
        this.#log.error({ err }, "onNewLeader failed");
      }
    }
  }

  // client-go's release: an empty holder and a 1 s lease, written only over our own last version.
  async #release(): Promise<void> {
    const lease = this.#lease;
    if (!lease) return;
    const now = microTime(this.#wallClock());
    const transitions = lease.spec?.leaseTransitions;
    const spec: LeaseSpec = {
      leaseDurationSeconds: 1,
      acquireTime: now,
      renewTime: now,
      ...(transitions !== undefined && { leaseTransitions: transitions }),
    };
    try {
      await this.#client.replace({ ...lease, spec });
      this.#log.info("released the Lease");
    } catch (err) {
      this.#log.warn({ err }, "could not release the Lease; successors wait for it to expire");
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }
}
