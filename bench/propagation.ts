// Approved manifest submitted in alpha -> applied in alpha, beta and gamma,
// through the three operators and their replication, beside a bare
// server-side apply of the same object to the three API servers at once.
// "Applied" is when a watch in each region sees the object.
import { KubeConfig, Watch } from "@kubernetes/client-node";
import { Applier } from "../operator/runtime/apply.ts";
import { approvedSpec } from "../e2e/testbed/approve.ts";
import { REGIONS, type Region } from "../e2e/testbed/layout.ts";
import type { Testbed } from "../e2e/testbed/testbed.ts";

export interface PropagationResult {
  readonly operator: number[];
  readonly bare: number[];
}

function watcher(kc: KubeConfig, ns: string) {
  const seen = new Map<string, number>();
  const waiting = new Map<string, (t: number) => void>();
  let request: { abort(): void } | undefined;
  void new Watch(kc)
    .watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      {},
      (type, obj: { metadata?: { name?: string } }) => {
        const name = obj.metadata?.name;
        if (type !== "ADDED" || !name) return;
        const t = performance.now();
        seen.set(name, t);
        waiting.get(name)?.(t);
      },
      () => undefined,
    )
    .then((r) => (request = r));
  return {
    seen: (name: string): Promise<number> => {
      const t = seen.get(name);
      return t !== undefined ? Promise.resolve(t) : new Promise((resolve) => waiting.set(name, resolve));
    },
    stop: () => request?.abort(),
  };
}

export async function benchPropagation(testbed: Testbed, rounds = 200): Promise<PropagationResult> {
  const { chain } = testbed;
  const ns = `prop-${Date.now().toString(36)}`;
  const configs = Object.fromEntries(
    REGIONS.map((r) => {
      const kc = new KubeConfig();
      kc.loadFromFile(testbed.kubeconfig[r]);
      return [r, kc];
    }),
  ) as Record<Region, KubeConfig>;
  const appliers = Object.fromEntries(
    REGIONS.map((r) => [r, new Applier(configs[r], { fieldManager: "bench" })]),
  ) as Record<Region, Applier>;
  await Promise.all(
    REGIONS.map((r) => appliers[r].apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })),
  );
  const watchers = REGIONS.map((r) => watcher(configs[r], ns));
  await new Promise((r) => setTimeout(r, 500));
  const result: PropagationResult = { operator: [], bare: [] };
  const allSeen = (name: string): Promise<number> =>
    Promise.all(watchers.map((w) => w.seen(name))).then((t) => Math.max(...t));

  for (let i = -1; i < rounds; i++) {
    const bareName = `bare-${String(i + 1)}`;
    const t0 = performance.now();
    await Promise.all(
      REGIONS.map((r) =>
        appliers[r].apply({
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: bareName, namespace: ns },
          data: { v: "1" },
        }),
      ),
    );
    const bare = (await allSeen(bareName)) - t0;

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
    await appliers.alpha.apply({
      apiVersion: "dsc.federation.dev/v1alpha1",
      kind: "ConsortiumManifest",
      metadata: { name, namespace: ns },
      spec,
    });
    const accepted = performance.now();
    const operator = (await allSeen(name)) - accepted;
    if (i >= 0) {
      result.bare.push(bare);
      result.operator.push(operator);
    }
  }
  for (const w of watchers) w.stop();
  return result;
}
