import { pino } from "pino";
import { Registry } from "prom-client";
import { getAddress } from "viem";
import { describe, expect, it } from "vitest";
import { testDir } from "../../e2e/support/temp-dir.ts";
import type { FederationContext } from "../federation/context.ts";
import type { ChainPause } from "../chain/reader.ts";
import { createState, freshActor } from "../state/document.ts";
import type { PauseRecord } from "../state/model.ts";
import { batch } from "../state/transitions.ts";
import { PauseLedger } from "../state/pause-ledger.ts";
import { Guardian } from "./service.ts";

async function guardianWithToken(token: string): Promise<Guardian> {
  const doc = createState(freshActor());
  const ledger = await PauseLedger.open(await testDir("dsc-guardian-"), () => ({
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
  type Read = Omit<ChainPause, "contract" | "block">;
  async function observing(atBlock: (block: bigint, contract: string) => Read | Promise<Read>) {
    let doc = createState(freshActor());
    const ledger = await PauseLedger.open(await testDir("dsc-guardian-"), () => ({
      pauses: [],
      lifted: [],
    }));
    const contextOf = (contract: string) =>
      ({
        spec: { chain: { chainId: 31337 }, guardian: { pauseContract: contract } },
        chain: {
          guardianPause: async (at: `0x${string}`, block: bigint) => ({
            ...(await atBlock(block, at.toLowerCase())),
            contract: { chainId: 31337, address: at },
            block,
          }),
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
    const recordPause = (fields: Pick<PauseRecord, "token" | "source" | "by" | "evidence">): void => {
      const record: PauseRecord = {
        region: "gamma",
        dsp: "0x00000000000000000000000000000000000000d4",
        severity: "critical",
        reason: "breach",
        at: 1,
        ...fields,
      };
      doc = batch(doc, (d) => d.pause(record));
    };
    // The agent's pause, as the breach path records it (and later on chain, as pause 1).
    const recordAgentPause = (): void => {
      recordPause({
        token: agentToken,
        source: "agent",
        by: "0x00000000000000000000000000000000000000c3",
        evidence: agentToken,
      });
    };
    return { guardian, context, contextOf, recordPause, recordAgentPause };
  }

  const paused = (id: bigint): Read => ({
    paused: true,
    id,
    guardian: guardianKey,
    evidence: agentToken,
    at: 1,
  });
  const unpaused = (id: bigint): Read => ({ ...paused(id), paused: false });
  const tokenOf = (id: bigint, contract = pauseContract): string =>
    `chain-31337-${contract}-${id.toString()}`;

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
    expect(guardian.pauses().map((p) => p.token)).toEqual([tokenOf(2n)]);
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
    let answerOld: (p: Read) => void = () => undefined;
    const { guardian, context, recordAgentPause } = await observing((block) =>
      block === 19n ? new Promise<Read>((resolve) => (answerOld = resolve)) : unpaused(1n),
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
    expect(guardian.pauses().map((p) => p.token)).toEqual([tokenOf(1n, other)]);
  });

  it("pauses for a pause on a new contract that has the id of one lifted on the contract before", async () => {
    // A guardian paused the first contract directly (pause 1); the Board unpaused it, and a resume
    // lifted it. The DAO then deployed a new GuardianPause, whose ids start again at 1.
    const other = "0x00000000000000000000000000000000000000e5";
    const first = `0x${"11".repeat(32)}` as const;
    const second = `0x${"22".repeat(32)}` as const;
    const { guardian, context, contextOf } = await observing((block, contract) =>
      contract === other
        ? { ...paused(1n), evidence: second }
        : block < 20n
          ? { ...paused(1n), evidence: first }
          : { ...unpaused(1n), evidence: first },
    );
    await guardian.observeChain(context, 10n);
    const [raised] = guardian.pauses();
    expect(raised?.source).toBe("chain");
    await guardian.observeChain(context, 21n);
    await guardian.resume([raised?.token ?? ""], "dsc/resume-1");
    expect(guardian.paused()).toBe(false);
    // The new contract's pause 1 is another pause: the clusters pause for it.
    await guardian.observeChain(contextOf(other), 30n);
    expect(guardian.pauses().map((p) => p.evidence)).toEqual([second]);
    expect(guardian.pauses()[0]?.token).not.toBe(raised?.token);
  });

  it("raises no second pause for a chain pause in force since before the upgrade, under its old token", async () => {
    // The release before named a chain pause `chain-<id>`, with no contract.
    const fresh = `0x${"ee".repeat(32)}` as const;
    const { guardian, context, recordPause } = await observing(() => ({ ...paused(4n), evidence: fresh }));
    recordPause({ token: "chain-4", source: "chain", by: getAddress(guardianKey), evidence: fresh });
    await guardian.observeChain(context, 10n);
    expect(guardian.pauses().map((p) => p.token)).toEqual(["chain-4"]);
    // An old token of another pause (other evidence, another guardian, or not a chain pause)
    // does not stand for this one.
    for (const differs of [
      { evidence: agentToken },
      { by: getAddress("0x00000000000000000000000000000000000000c3") },
      { source: "agent" as const },
    ]) {
      const other = await observing(() => ({ ...paused(4n), evidence: fresh }));
      other.recordPause({
        token: "chain-4",
        source: "chain",
        by: getAddress(guardianKey),
        evidence: fresh,
        ...differs,
      });
      await other.guardian.observeChain(other.context, 10n);
      expect(
        other.guardian.pauses().map((p) => p.token),
        JSON.stringify(differs),
      ).toEqual(["chain-4", tokenOf(4n)]);
    }
  });

  it("pauses again for a chain pause whose old token was lifted before this region read the contract paused", async () => {
    // A region of the release before raised `chain-1`; a resume lifted it here while this region's
    // last read of the contract was older than pause 1 (such a token is not held: plan.ts).
    const fresh = `0x${"ee".repeat(32)}` as const;
    const { guardian, context, recordPause } = await observing((block) =>
      block < 10n ? unpaused(0n) : { ...paused(1n), evidence: fresh },
    );
    await guardian.observeChain(context, 5n);
    recordPause({ token: "chain-1", source: "chain", by: getAddress(guardianKey), evidence: fresh });
    await guardian.resume(["chain-1"], "dsc/resume-1");
    expect(guardian.paused()).toBe(false);
    await guardian.observeChain(context, 10n);
    expect(guardian.pauses().map((p) => p.token)).toEqual([tokenOf(1n)]);
  });

  it("pauses for a new contract's pause 1 though the old token chain-1 of its guardian and evidence was lifted", async () => {
    // The release before's `chain-1` (the old contract's pause 1) was lifted here; the DAO then
    // deployed a new contract, and the same guardian paused it with the same evidence.
    const other = "0x00000000000000000000000000000000000000e5";
    const fresh = `0x${"ee".repeat(32)}` as const;
    const { guardian, contextOf, recordPause } = await observing(() => ({ ...paused(1n), evidence: fresh }));
    recordPause({ token: "chain-1", source: "chain", by: getAddress(guardianKey), evidence: fresh });
    await guardian.resume(["chain-1"], "dsc/resume-1");
    await guardian.observeChain(contextOf(other), 10n);
    expect(guardian.pauses().map((p) => p.token)).toEqual([tokenOf(1n, other)]);
  });

  it("names the chain in the token: the same contract address on another chain is another contract", async () => {
    const fresh = `0x${"ee".repeat(32)}` as const;
    const { guardian, context, recordPause } = await observing(() => ({ ...paused(1n), evidence: fresh }));
    // Chain 1's pause 1 at this address, raised and lifted here.
    recordPause({
      token: `chain-1-${pauseContract}-1`,
      source: "chain",
      by: getAddress(guardianKey),
      evidence: fresh,
    });
    await guardian.resume([`chain-1-${pauseContract}-1`], "dsc/resume-1");
    await guardian.observeChain(context, 10n); // chain 31337
    expect(guardian.pauses().map((p) => p.token)).toEqual([tokenOf(1n)]);
  });

  it("forgets the contract before's state once the Federation names a new one: a resume waits for its read", async () => {
    const other = "0x00000000000000000000000000000000000000e5";
    let answer: (p: Read) => void = () => undefined;
    const { guardian, context, contextOf } = await observing((_block, contract) =>
      contract === other ? new Promise<Read>((resolve) => (answer = resolve)) : unpaused(1n),
    );
    await guardian.observeChain(context, 10n);
    expect(guardian.chainPause()?.contract.address.toLowerCase()).toBe(pauseContract);
    const read = guardian.observeChain(contextOf(other), 11n);
    expect(guardian.chainPause()).toBeUndefined();
    answer(unpaused(0n));
    await read;
    expect(guardian.chainPause()?.contract.address.toLowerCase()).toBe(other);
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
    expect(guardian.pauses().map((p) => p.token)).toEqual([tokenOf(1n)]);
  });
});
