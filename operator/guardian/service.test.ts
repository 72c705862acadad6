import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { FederationContext } from "../federation/context.ts";
import type { ChainPause } from "../chain/reader.ts";
import { createState, freshActor } from "../state/document.ts";
import type { PauseRecord } from "../state/model.ts";
import { batch } from "../state/transitions.ts";
import { PauseLedger } from "../state/pause-ledger.ts";
import { Guardian } from "./service.ts";

async function guardianWithToken(token: string): Promise<Guardian> {
  const doc = createState(freshActor());
  const ledger = await PauseLedger.open(await mkdtemp(join(tmpdir(), "dsc-guardian-")), () => ({
    pauses: [],
    lifted: [],
  }));
  const context = {
    spec: { guardian: { alertmanager: { tokenSecretRef: { name: "g", key: "t" }, alerts: [] } } },
    alertmanagerToken: token,
  } as unknown as FederationContext;
  return new Guardian({
    region: "alpha",
    state: { doc, change: () => Promise.resolve(), onChange: () => () => undefined },
    ledger,
    federation: () => context,
    registry: new Registry(),
    logger: pino({ level: "silent" }),
    now: Date.now,
  });
}

describe("the Alertmanager webhook's bearer token", () => {
  it("authorizes only the token in the Secret", async () => {
    const guardian = await guardianWithToken("s3cret");
    expect(guardian.authorizeAlertmanager("Bearer s3cret")).toBeUndefined();
    expect(guardian.authorizeAlertmanager("Bearer wrong")?.status).toBe(401);
    expect(guardian.authorizeAlertmanager(undefined)?.status).toBe(401);
  });

  it("authorizes no one when the Secret holds an empty or whitespace token (the webhook is off)", async () => {
    for (const token of ["", "   ", "\n"]) {
      const guardian = await guardianWithToken(token);
      expect(guardian.authorizeAlertmanager(undefined)?.status, JSON.stringify(token)).toBe(503);
      expect(guardian.authorizeAlertmanager("Bearer ")?.status).toBe(503);
      expect(guardian.authorizeAlertmanager("Bearer  ")?.status).toBe(503);
    }
  });
});

describe("the chain's GuardianPause as the guardian observes it", () => {
  const agentToken: `0x${string}` = `0x${"ab".repeat(32)}`;
  const pauseContract = "0x00000000000000000000000000000000000000a1";
  const guardianKey = "0x00000000000000000000000000000000000000b2";

  /** A guardian over a document in memory, whose chain answers per contract and block. */
  async function observing(atBlock: (block: bigint, contract: string) => ChainPause | Promise<ChainPause>) {
    let doc = createState(freshActor());
    const ledger = await PauseLedger.open(await mkdtemp(join(tmpdir(), "dsc-guardian-")), () => ({
      pauses: [],
      lifted: [],
    }));
    const contextOf = (contract: string) =>
      ({
        spec: { chain: { chainId: 31337 }, guardian: { pauseContract: contract } },
        chain: {
          guardianPause: (at: string, block: bigint) => Promise.resolve(atBlock(block, at.toLowerCase())),
        },
      }) as unknown as FederationContext;
    const context = contextOf(pauseContract);
    const guardian = new Guardian({
      region: "alpha",
      state: {
        get doc() {
          return doc;
        },
        change: (edit) => {
          doc = batch(doc, edit);
          return Promise.resolve();
        },
        onChange: () => () => undefined,
      },
      ledger,
      federation: () => context,
      registry: new Registry(),
      logger: pino({ level: "silent" }),
      now: Date.now,
    });
    // The agent's pause, as the breach path records it (and later on chain, as pause 1).
    const recordAgentPause = (): void => {
      const record: PauseRecord = {
        token: agentToken,
        region: "gamma",
        source: "agent",
        by: "0x00000000000000000000000000000000000000c3",
        dsp: "0x00000000000000000000000000000000000000d4",
        severity: "critical",
        evidence: agentToken,
        reason: "breach",
        at: 1,
      };
      doc = batch(doc, (d) => d.pause(record));
    };
    return { guardian, context, contextOf, recordAgentPause };
  }

  const paused = (id: bigint): ChainPause => ({
    paused: true,
    id,
    guardian: guardianKey,
    evidence: agentToken,
    at: 1,
  });
  const unpaused = (id: bigint): ChainPause => ({ ...paused(id), paused: false });

  it("does not take a read at an older block for news after a resume: a stale paused read raises no new pause", async () => {
    // The agent's pause was recorded on chain as pause 1 at block 10; the Board unpaused it at block 20.
    const { guardian, context, recordAgentPause } = await observing((block) =>
      block < 20n ? paused(1n) : unpaused(1n),
    );
    recordAgentPause();
    await guardian.observeChain(context, 15n); // paused, and known: its evidence is a pause in force
    expect(guardian.pauses().map((p) => p.token)).toEqual([agentToken]);
    await guardian.observeChain(context, 21n); // the Board's unpause is seen
    expect(await guardian.resume([agentToken], "dsc/resume-1")).toEqual([agentToken]);
    expect(guardian.paused()).toBe(false);
    // A pass that reads at a head older than the unpause (kept fresh for up to a poll) sees pause 1 in force.
    await guardian.observeChain(context, 19n);
    expect(guardian.pauses().map((p) => p.token)).toEqual([]);
    expect(guardian.chainPause()?.paused).toBe(false);
  });

  it("still pauses for a new pause on chain whose evidence is a token already lifted", async () => {
    const { guardian, context, recordAgentPause } = await observing((block) =>
      block < 20n ? paused(1n) : block < 30n ? unpaused(1n) : paused(2n),
    );
    recordAgentPause();
    await guardian.observeChain(context, 21n);
    await guardian.resume([agentToken], "dsc/resume-1");
    await guardian.observeChain(context, 31n);
    expect(guardian.pauses().map((p) => p.token)).toEqual(["chain-2"]);
  });

  it("does not take a lifted pause for one in force again, whatever block the read says", async () => {
    // A node that answers for an older state than the block asked (a load balancer, a node catching up).
    const { guardian, context, recordAgentPause } = await observing((block) =>
      block === 22n ? paused(1n) : block < 20n ? paused(1n) : unpaused(1n),
    );
    recordAgentPause();
    await guardian.observeChain(context, 21n);
    await guardian.resume([agentToken], "dsc/resume-1");
    await guardian.observeChain(context, 22n);
    expect(guardian.pauses()).toEqual([]);
  });

  it("drops a read that comes back after a newer one, even if it was asked first", async () => {
    let answerOld: (p: ChainPause) => void = () => undefined;
    const { guardian, context, recordAgentPause } = await observing((block) =>
      block === 19n ? new Promise<ChainPause>((resolve) => (answerOld = resolve)) : unpaused(1n),
    );
    recordAgentPause();
    const old = guardian.observeChain(context, 19n);
    await guardian.observeChain(context, 21n);
    await guardian.resume([agentToken], "dsc/resume-1");
    answerOld(paused(1n));
    await old;
    expect(guardian.pauses()).toEqual([]);
    expect(guardian.chainPause()?.paused).toBe(false);
  });

  it("starts over on another pause contract, whose ids start again at 1", async () => {
    const other = "0x00000000000000000000000000000000000000e5";
    const fresh = `0x${"ee".repeat(32)}` as const;
    const { guardian, context, contextOf, recordAgentPause } = await observing((block, contract) =>
      contract === other ? { ...paused(1n), evidence: fresh } : block < 20n ? paused(1n) : unpaused(1n),
    );
    recordAgentPause();
    await guardian.observeChain(context, 21n);
    await guardian.resume([agentToken], "dsc/resume-1");
    // The Federation now names a new contract, on a chain read at a lower block than before.
    await guardian.observeChain(contextOf(other), 5n);
    expect(guardian.pauses().map((p) => p.token)).toEqual(["chain-1"]);
  });

  it("takes a chain that stays behind as one that went back, after a few reads", async () => {
    const fresh = `0x${"ee".repeat(32)}` as const;
    const { guardian, context } = await observing((block) =>
      block >= 100n ? unpaused(1n) : { ...paused(1n), evidence: fresh },
    );
    await guardian.observeChain(context, 100n);
    // The chain was reset: its pause 1 is new. Dropped three times as a stale read, then taken.
    for (const block of [10n, 11n, 12n]) {
      await guardian.observeChain(context, block);
      expect(guardian.pauses()).toEqual([]);
    }
    await guardian.observeChain(context, 13n);
    expect(guardian.pauses().map((p) => p.token)).toEqual(["chain-1"]);
  });
});
