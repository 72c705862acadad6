import { ApiError } from "../kube/client.ts";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { decideLease, LeaderElector, type Lease, type LeaseClient } from "./leader.ts";
import { captureLogger, metricValue } from "../../e2e/support/runtime.ts";

const wallNow = new Date("2026-05-01T00:00:10Z");
const lease = (holder: string | undefined, rv: string, transitions = 2): Lease => ({
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  metadata: { name: "op", namespace: "ns", resourceVersion: rv },
  spec: {
    ...(holder !== undefined && { holderIdentity: holder }),
    leaseDurationSeconds: 15,
    acquireTime: "2026-05-01T00:00:00.000000Z",
    renewTime: "2026-05-01T00:00:05.000000Z",
    leaseTransitions: transitions,
  },
});
const base = { identity: "me", wallNow, leaseDurationSeconds: 15 };

describe("decideLease", () => {
  it("creates a missing Lease with itself as holder", () => {
    expect(decideLease({ ...base, lease: undefined, observedAt: 0, now: 0 })).toEqual({
      action: "create",
      spec: {
        holderIdentity: "me",
        leaseDurationSeconds: 15,
        acquireTime: "2026-05-01T00:00:10.000000Z",
        renewTime: "2026-05-01T00:00:10.000000Z",
        leaseTransitions: 0,
      },
    });
  });

  it("waits while another holder's Lease changed within the lease duration, by the local clock", () => {
    expect(decideLease({ ...base, lease: lease("other", "5"), observedAt: 1000, now: 15_999 })).toEqual({
      action: "wait",
      holder: "other",
    });
  });

  it("takes over an expired or released Lease, counting a transition", () => {
    const expired = decideLease({ ...base, lease: lease("other", "5"), observedAt: 1000, now: 16_000 });
    expect(expired).toMatchObject({
      action: "update",
      spec: { holderIdentity: "me", acquireTime: "2026-05-01T00:00:10.000000Z", leaseTransitions: 3 },
    });
    const released = decideLease({ ...base, lease: lease(undefined, "6"), observedAt: 1000, now: 1000 });
    expect(released).toMatchObject({ action: "update", spec: { holderIdentity: "me", leaseTransitions: 3 } });
  });

  it("renews its own Lease keeping acquireTime and the transition count", () => {
    expect(decideLease({ ...base, lease: lease("me", "7"), observedAt: 0, now: 99_999 })).toEqual({
      action: "update",
      spec: {
        holderIdentity: "me",
        leaseDurationSeconds: 15,
        acquireTime: "2026-05-01T00:00:00.000000Z",
        renewTime: "2026-05-01T00:00:10.000000Z",
        leaseTransitions: 2,
      },
    });
  });
});

// An API server's view of one Lease: optimistic concurrency on resourceVersion.
class FakeLeases implements LeaseClient {
  stored: Lease | undefined;
  version = 0;
  down = new Set<string>(); // identities whose requests fail, as if cut off

  client(identity: string): LeaseClient {
    const guard = (): void => {
      if (this.down.has(identity)) throw new Error("connect ETIMEDOUT");
    };
    return {
      get: () => Promise.resolve().then(() => (guard(), this.get())),
      create: (l) => Promise.resolve().then(() => (guard(), this.create(l))),
      replace: (l) => Promise.resolve().then(() => (guard(), this.replace(l))),
    };
  }

  get(): Promise<Lease | undefined> {
    return Promise.resolve(this.stored && structuredClone(this.stored));
  }

  create(l: Lease): Promise<Lease> {
    if (this.stored) return Promise.reject(new ApiError(409, { reason: "AlreadyExists", message: "exists" }));
    return Promise.resolve(this.#store(l));
  }

  replace(l: Lease): Promise<Lease> {
    if (l.metadata.resourceVersion !== this.stored?.metadata.resourceVersion) {
      return Promise.reject(new ApiError(409, { reason: "Conflict", message: "conflict" }));
    }
    return Promise.resolve(this.#store(l));
  }

  #store(l: Lease): Lease {
    this.stored = {
      ...structuredClone(l),
      metadata: { ...l.metadata, resourceVersion: String(++this.version) },
    };
    return structuredClone(this.stored);
  }
}

describe("LeaderElector", () => {
  let leases: FakeLeases;
  let log: string[];
  const electors: LeaderElector[] = [];

  function elector(identity: string, registry?: Registry): LeaderElector {
    const e = new LeaderElector({
      namespace: "ns",
      name: "op",
      identity,
      logger: captureLogger().logger,
      client: leases.client(identity),
      ...(registry && { registry }),
      random: () => 0.5,
      onStartedLeading: (signal) => {
        log.push(`${identity} leads`);
        signal.addEventListener("abort", () => log.push(`${identity} signal aborted`));
      },
      onStoppedLeading: () => {
        log.push(`${identity} stops`);
      },
    });
    electors.push(e);
    return e;
  }

  // At no instant may two electors lead: checked at every step of simulated time.
  async function advance(ms: number, step = 100): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      await vi.advanceTimersByTimeAsync(step);
      expect(electors.filter((e) => e.isLeader()).length).toBeLessThanOrEqual(1);
    }
  }

  beforeEach(() => {
    vi.useFakeTimers();
    leases = new FakeLeases();
    log = [];
    electors.length = 0;
  });
  afterEach(async () => {
    await Promise.all(electors.map((e) => e.stop()));
    vi.useRealTimers();
  });

  it("lets one of two candidates lead, and hands over promptly when the leader stops", async () => {
    const registry = new Registry();
    const a = elector("a", registry);
    const b = elector("b");
    a.start();
    await advance(100);
    b.start();
    await advance(10_000);
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    expect(b.leader()).toBe("a");
    expect(await metricValue(registry, "leader_election_master_status", { name: "op" })).toBe(1);
    expect(leases.stored?.spec?.holderIdentity).toBe("a");

    const stopping = a.stop();
    await advance(100);
    await stopping;
    expect(leases.stored?.spec?.holderIdentity).toBeUndefined(); // released
    expect(await metricValue(registry, "leader_election_master_status", { name: "op" })).toBe(0);
    // b retries every 2 s × (1 + 0.5 × 1.2) = 3.2 s: it leads within one retry, not after 15 s.
    await advance(3300);
    expect(b.isLeader()).toBe(true);
    expect(log).toEqual(["a leads", "a signal aborted", "a stops", "b leads"]);
    expect(leases.stored?.spec?.leaseTransitions).toBe(1);
  });

  it("steps down when it cannot renew by the deadline; the other takes over only after the lease expires", async () => {
    const a = elector("a");
    const b = elector("b");
    a.start();
    await advance(100);
    b.start();
    await advance(5000);
    expect(a.isLeader()).toBe(true);
    leases.down.add("a"); // a is cut off from the API server
    const cutAt = Date.now();
    let aStoppedAt = 0;
    let bLedAt = 0;
    for (let t = 0; t < 30_000 && !bLedAt; t += 100) {
      await advance(100);
      if (!aStoppedAt && !a.isLeader()) aStoppedAt = Date.now() - cutAt;
      if (b.isLeader()) bLedAt = Date.now() - cutAt;
    }
    expect(aStoppedAt).toBeGreaterThan(0);
    expect(aStoppedAt).toBeLessThanOrEqual(10_000 + 2_000); // renew deadline, give or take one retry
    expect(bLedAt).toBeGreaterThanOrEqual(13_000); // b must see no renewal for the whole lease duration
    expect(bLedAt).toBeGreaterThan(aStoppedAt);
    expect(log).toEqual(["a leads", "a signal aborted", "a stops", "b leads"]);
  });

  it("rejects timings where a leader could outlive its lease", () => {
    const common = {
      namespace: "ns",
      name: "op",
      identity: "x",
      logger: captureLogger().logger,
      client: leases,
      onStartedLeading: () => undefined,
      onStoppedLeading: () => undefined,
    };
    expect(
      () => new LeaderElector({ ...common, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }),
    ).toThrow();
    expect(() => new LeaderElector({ ...common, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow();
  });
});
