// The test bed's first scenario on the kind clusters: a DSP submits an
// upgrade-tier manifest in alpha, approved by the DSPs of alpha and beta
// (the same signing helpers the end-to-end tests use); the operators in all
// three regions verify it on chain and apply it. Run by e2e/kind/smoke.sh
// after e2e/kind/up.sh:
//   node e2e/kind/smoke.ts DIR      (DIR holds chain.json; contexts kind-dsc-<region>)
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { Applier } from "../../operator/runtime/apply.ts";
import { approvedSpec, manifestObject } from "../testbed/approve.ts";
import { eventually } from "../testbed/eventually.ts";
import { configMap, manifestStatus } from "../testbed/read.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import type { TestbedChain } from "../testbed/testbed.ts";

const dir = resolve(process.argv[2] ?? join(import.meta.dirname, ".scratch"));
const chain = JSON.parse(readFileSync(join(dir, "chain.json"), "utf8")) as TestbedChain;
const namespace = "smoke";
const name = `web-${Date.now().toString(36)}`;

const config = (region: Region): KubeConfig => {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  kc.setCurrentContext(`kind-dsc-${region}`);
  return kc;
};

const started = performance.now();
const approved = await approvedSpec(
  chain,
  { namespace, name },
  {
    tier: "upgrade",
    targets: [...REGIONS],
    nonce: 1,
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    objects: [
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace }, data: { greeting: "hello" } },
    ],
  },
  { proposer: "alpha", signers: ["alpha", "beta"] },
);
const alpha = new Applier(config("alpha"), { fieldManager: "dsp-1-admin" });
await alpha.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
await alpha.apply(manifestObject(namespace, name, approved.spec));
console.log(`submitted ${namespace}/${name} in alpha (digest ${approved.hashes.digest})`);

await Promise.all(
  REGIONS.map(async (region) => {
    const kc = config(region);
    await eventually(
      `${name} applied in ${region}`,
      async () => {
        if ((await manifestStatus(kc, namespace, name))?.state !== "Applied") return false;
        return (await configMap(kc, namespace, name))?.data?.greeting === "hello";
      },
      { timeoutMs: 120_000 },
    );
    console.log(`${region}: applied after ${String(Math.round(performance.now() - started))} ms`);
  }),
);
