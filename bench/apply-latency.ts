// Approval-complete to applied, through the operator, beside a bare
// server-side apply of the same objects to the same API server. "Approval
// complete" is the moment the manifest carrying its last required approval is
// accepted by the API server; "applied" is when a watch sees the last object.
import { KubeConfig, Watch } from "@kubernetes/client-node";
import { ObjectApi } from "../operator/kube/objects-api.ts";
import { Applier } from "../operator/runtime/apply.ts";
import type { Testbed } from "../e2e/testbed/testbed.ts";
import { approvedSpec, manifestObject } from "../e2e/testbed/approve.ts";

export interface LatencyResult {
  readonly operator: number[];
  /** The objects applied one by one, as `kubectl apply --server-side` does. */
  readonly bare: number[];
  /** The objects applied all at once: the fastest a client can do it. */
  readonly bareParallel: number[];
}

function objectsFor(ns: string, name: string): Record<string, unknown>[] {
  const labels = { app: name };
  return [
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns }, data: { config: name } },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: ns },
      spec: { selector: labels, ports: [{ port: 80 }] },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
        },
      },
    },
  ];
}

/** Resolves when a Deployment named `name` appears in `ns`, seen through a watch. */
function watchFor(kc: KubeConfig, ns: string): { seen(name: string): Promise<number>; stop(): void } {
  const waiters = new Map<string, (t: number) => void>();
  const arrived = new Map<string, number>();
  let request: { abort(): void } | undefined;
  void new Watch(kc)
    .watch(
      `/apis/apps/v1/namespaces/${ns}/deployments`,
      {},
      (type, obj: { metadata?: { name?: string } }) => {
        const name = obj.metadata?.name;
        if (type !== "ADDED" || !name) return;
        const t = performance.now();
        arrived.set(name, t);
        waiters.get(name)?.(t);
      },
      () => undefined,
    )
    .then((r) => (request = r));
  return {
    seen: (name) => {
      const t = arrived.get(name);
      return t !== undefined ? Promise.resolve(t) : new Promise((resolve) => waiters.set(name, resolve));
    },
    stop: () => request?.abort(),
  };
}

export async function benchApplyLatency(
  testbed: Testbed,
  kubeconfig: string,
  rounds = 100,
): Promise<LatencyResult> {
  const { chain } = testbed;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const ns = `bench-${Date.now().toString(36)}`;
  const admin = new Applier(kc, { fieldManager: "bench" });
  await admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  const watch = watchFor(kc, ns);
  await new Promise((r) => setTimeout(r, 300));
  const result: LatencyResult = { operator: [], bare: [], bareParallel: [] };
  // Round -1 warms up (API discovery, connections, JIT) and is not counted.
  for (let i = -1; i < rounds; i++) {
    const record = (list: number[], value: number): void => {
      if (i >= 0) list.push(value);
    };
    // Bare: the same three objects, applied in order by a client.
    const bareName = `bare-${String(i + 1)}`;
    const t0 = performance.now();
    for (const object of objectsFor(ns, bareName)) await admin.apply(object);
    record(result.bare, (await watch.seen(bareName)) - t0);
    const parallelName = `par-${String(i + 1)}`;
    const tp = performance.now();
    await Promise.all(objectsFor(ns, parallelName).map((object) => admin.apply(object)));
    record(result.bareParallel, (await watch.seen(parallelName)) - tp);

    // Through the operator: the manifest arrives carrying its second (last required) approval.
    const name = `op-${String(i + 1)}`;
    const { spec } = await approvedSpec(
      chain,
      { namespace: ns, name },
      {
        tier: "upgrade",
        targets: ["alpha"],
        nonce: 1,
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        objects: objectsFor(ns, name),
      },
      { signers: ["alpha", "beta"] },
    );
    await admin.apply(manifestObject(ns, name, spec));
    const accepted = performance.now();
    record(result.operator, (await watch.seen(name)) - accepted);
  }
  watch.stop();
  await ObjectApi.forConfig(kc)
    .delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })
    .catch(() => undefined);
  return result;
}
