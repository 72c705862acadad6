import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { FederationContext } from "../federation/context.ts";
import { createState, freshActor } from "../state/document.ts";
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
