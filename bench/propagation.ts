// Approved manifest submitted in alpha -> applied in alpha, beta and gamma,
// through the three operators and their replication, beside a bare
// server-side apply of the same object to the three API servers at once.
// "Applied" is when a watch in each region sees the object.
import { allSeen, bareWrite, configMapWatchers, regionClients } from "./watch.ts";
import { approvedSpec, manifestObject } from "../e2e/testbed/approve.ts";
import { REGIONS } from "../e2e/testbed/layout.ts";
import type { Testbed } from "../e2e/testbed/testbed.ts";

export interface PropagationResult {
  readonly operator: number[];
  readonly bare: number[];
}

export async function benchPropagation(testbed: Testbed, rounds = 200): Promise<PropagationResult> {
  const { chain } = testbed;
  const ns = `prop-${Date.now().toString(36)}`;
  const { configs, appliers } = regionClients(testbed);
  await Promise.all(
    REGIONS.map((r) => appliers[r].apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })),
  );
  const watchers = configMapWatchers(configs, ns);
  await new Promise((r) => setTimeout(r, 500));
  const result: PropagationResult = { operator: [], bare: [] };

  for (let i = -1; i < rounds; i++) {
    const bare = await bareWrite(appliers, watchers, ns, `bare-${String(i + 1)}`);

    const name = `op-${String(i + 1)}`;
    const { spec } = await approvedSpec(
      chain,
      { namespace: ns, name },
      {
        tier: "upgrade",
        targets: [...REGIONS],
        nonce: 1,
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        objects: [
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns }, data: { v: "1" } },
        ],
      },
      { signers: ["alpha", "beta"] },
    );
    await appliers.alpha.apply(manifestObject(ns, name, spec));
    const accepted = performance.now();
    const operator = (await allSeen(watchers, name)) - accepted;
    if (i >= 0) {
      result.bare.push(bare);
      result.operator.push(operator);
    }
  }
  for (const w of watchers) w.stop();
  return result;
}
