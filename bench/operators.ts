// Waiting for the three operators to be ready for a round: connected to their
// peers and done with what their start queued.
import { eventually } from "../e2e/testbed/eventually.ts";
import { REGIONS } from "../e2e/testbed/layout.ts";
import type { OperatorProcess } from "../e2e/testbed/operator.ts";

/**
 * Every operator reports both of its peers connected and has worked off its
 * start (every manifest in the cluster and the state reconciled once): rounds
 * must not include start-up.
 */
export async function allPeersConnected(operators: readonly OperatorProcess[]): Promise<void> {
  await eventually("every operator connected to both peers", async () => {
    const texts = await Promise.all(operators.map((o) => o.metrics()));
    return texts.every(
      (t) => (t.match(/^dsc_peer_connected\{[^}]*\} 1$/gm) ?? []).length === REGIONS.length - 1,
    );
  });
  await allQuiet(operators);
}

/** Every work queue empty and no worker busy, two looks in a row 50 ms apart. */
async function allQuiet(operators: readonly OperatorProcess[]): Promise<void> {
  let quiet = 0;
  await eventually(
    "every operator idle",
    async () => {
      const texts = await Promise.all(operators.map((o) => o.metrics()));
      const busy = texts.some((t) =>
        /^(workqueue_depth|controller_runtime_active_workers)\{[^}]*\} [1-9]/m.test(t),
      );
      quiet = busy ? 0 : quiet + 1;
      if (quiet < 2) await new Promise((r) => setTimeout(r, 50));
      return quiet >= 2;
    },
    { timeoutMs: 300_000 },
  );
}
