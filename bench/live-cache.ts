// A live cluster's share of the operator's memory: the ConsortiumManifests a
// region holds (one per manifest in the federation state, mirrored) sit in the
// operator's informer cache, metadata only (a reconcile reads the body). This
// writes N of them into a test-bed region, as
// a DSP's apply and the operator's status would leave them (spec and status
// by server-side apply, two field managers), for bench/state.ts to measure.
import { KubeClient } from "../operator/kube/client.ts";
import { loadKubeconfigFile } from "../operator/kube/config.ts";
import { Applier } from "../operator/runtime/apply.ts";
import { manifestObject } from "../e2e/testbed/approve.ts";

export const LIVE_NAMESPACE = "bench-cache";

const hex = (n: number, digits: number): string => `0x${n.toString(16).padStart(digits, "0")}`;

function spec(i: number): unknown {
  const app = `web-${String(i)}`;
  return {
    tier: "upgrade",
    targets: ["alpha", "beta"],
    nonce: 2,
    expiresAt: "2030-01-01T00:00:00Z",
    objects: [
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: app, namespace: LIVE_NAMESPACE },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app } },
          template: {
            metadata: { labels: { app } },
            spec: { containers: [{ name: "web", image: `ghcr.io/example/web:1.4.${String(i)}` }] },
          },
        },
      },
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: app, namespace: LIVE_NAMESPACE },
        spec: { selector: { app }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    ],
    proposal: { agent: hex(i, 40), signature: hex(i, 130) },
    signatures: [
      { safe: "consortium", data: hex(2 * i, 130) },
      { safe: "consortium", data: hex(2 * i + 1, 130) },
    ],
  };
}

function status(i: number, now: string): unknown {
  const condition = (type: string) => ({
    type,
    status: "True",
    reason: type === "Ready" ? "Ready" : type,
    message: "approved and applied",
    lastTransitionTime: now,
    observedGeneration: 1,
  });
  return {
    observedGeneration: 1,
    state: "Applied",
    conditions: ["Verified", "Applied", "Ready"].map(condition),
    digest: hex(i, 64),
    safeMessageHash: hex(i + 1, 64),
    block: 1234,
    approvalSummary: "2 of 3 DSPs (upgrade)",
    approvals: [0, 1].map((k) => ({
      signer: hex(2 * i + k, 40),
      safe: "consortium",
      kind: "ecdsa",
      source: "inline",
      valid: true,
    })),
    proposer: { agent: hex(i, 40), dsp: hex(7, 40), valid: true },
    regions: ["alpha", "beta"].map((region) => ({ region, state: "Applied", nonce: 2 })),
    regionSummary: "alpha ✓ beta ✓",
  };
}

/** Writes `count` ConsortiumManifests (CRDs already installed) with 16 requests in flight; returns seconds. */
export async function writeLiveManifests(kubeconfig: string, count: number): Promise<number> {
  const client = new KubeClient(loadKubeconfigFile(kubeconfig));
  const dsp = new Applier(client, { fieldManager: "dsp-admin" });
  const operator = new Applier(client, { fieldManager: "dsc-operator" });
  const started = performance.now();
  try {
    await dsp.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: LIVE_NAMESPACE } });
    const now = new Date().toISOString();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < count; i = next++) {
        const manifest = manifestObject(LIVE_NAMESPACE, `m-${String(i)}`, spec(i));
        await dsp.apply(manifest);
        await operator.applyStatus({ ...manifest, status: status(i, now) });
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    return (performance.now() - started) / 1000;
  } finally {
    client.close();
  }
}
