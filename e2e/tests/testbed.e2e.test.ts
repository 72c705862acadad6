// The test bed is what every later claim is proven on, so these tests check
// that each part is the real thing: separate API servers with their own CAs
// and storage, a scheduler, controllers and KWOK that turn a Deployment into
// Running pods, Safe contracts that answer on chain, and the real api-kit
// client talking to the Transaction Service double.
import { request } from "node:https";
import { AppsV1Api, CoreV1Api, KubeConfig, VersionApi, type V1Pod } from "@kubernetes/client-node";
import { buildContractSignature, buildSignatureBytes } from "@safe-global/protocol-kit";
import { createPublicClient, hashMessage, http, zeroAddress, type Hex } from "viem";
import { beforeAll, describe, expect, it } from "vitest";
import { safeAbi } from "../../operator/chain/safe-abi.ts";
import { safeMessageHash } from "../../operator/core/manifest/digest.ts";
import { Safe, SafeApiKit } from "../../operator/safe/sdk.ts";
import { contractNetworks } from "../testbed/chain.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import { current, type Testbed } from "../testbed/testbed.ts";

let testbed: Testbed;
const kube = (region: Region): KubeConfig => {
  const kc = new KubeConfig();
  kc.loadFromFile(testbed.kubeconfig[region]);
  return kc;
};

beforeAll(async () => {
  testbed = await current();
});

describe("three real Kubernetes control planes", () => {
  it("answer as three distinct clusters, each trusting only its own credentials", async () => {
    const identities = await Promise.all(
      REGIONS.map(async (region) => {
        const kc = kube(region);
        const version = await kc.makeApiClient(VersionApi).getCode();
        const ns = await kc.makeApiClient(CoreV1Api).readNamespace({ name: "kube-system" });
        return {
          region,
          version: version.gitVersion,
          uid: ns.metadata?.uid,
          server: kc.getCurrentCluster()?.server,
        };
      }),
    );
    expect(identities.map((i) => i.version)).toEqual(["v1.34.4", "v1.34.4", "v1.34.4"]);
    expect(new Set(identities.map((i) => i.uid)).size).toBe(3);
    expect(new Set(identities.map((i) => i.server)).size).toBe(3);

    // alpha's admin certificate is signed by alpha's CA: beta's API server must refuse it.
    const alpha = kube("alpha");
    const alphaUser = alpha.getCurrentUser();
    const betaServer = new URL(kube("beta").getCurrentCluster()?.server ?? "");
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: betaServer.hostname,
          port: betaServer.port,
          path: "/api/v1/namespaces",
          rejectUnauthorized: false,
          cert: Buffer.from(alphaUser?.certData ?? "", "base64"),
          key: Buffer.from(alphaUser?.keyData ?? "", "base64"),
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(401);
  });

  it("turns a Deployment in beta into Running pods, scheduled onto beta's KWOK node", async () => {
    const kc = kube("beta");
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const name = `web-${Date.now().toString(36)}`;
    await apps.createNamespacedDeployment({
      namespace: "default",
      body: {
        metadata: { name },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: { containers: [{ name: "web", image: "registry.example/web:1.0" }] },
          },
        },
      },
    });
    let pods: V1Pod[] = [];
    for (let attempt = 0; attempt < 300; attempt++) {
      pods = (await core.listNamespacedPod({ namespace: "default", labelSelector: `app=${name}` })).items;
      if (pods.length === 2 && pods.every((p) => p.status?.phase === "Running")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(pods.map((p) => p.status?.phase)).toEqual(["Running", "Running"]);
    expect(pods.every((p) => p.spec?.nodeName === "kwok-beta-0")).toBe(true);
    const deployment = await apps.readNamespacedDeployment({ name, namespace: "default" });
    expect(deployment.status?.readyReplicas).toBe(2);
    // Nothing leaked into the other regions.
    const alphaPods = await kube("alpha")
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({
        namespace: "default",
        labelSelector: `app=${name}`,
      });
    expect(alphaPods.items).toHaveLength(0);
    await apps.deleteNamespacedDeployment({ name, namespace: "default" });
  });
});

describe("the chain with the real Safe contracts", () => {
  it("has the Consortium Safe owned by the three DSP Safes, each a Safe 1.5.0 proxy", async () => {
    const client = createPublicClient({ transport: http(testbed.chain.rpcUrl) });
    const { safes, contracts } = testbed.chain;
    const owners = await client.readContract({
      address: safes.consortium,
      abi: safeAbi,
      functionName: "getOwners",
    });
    expect([...owners].sort()).toEqual(REGIONS.map((r) => safes.dsp[r]).sort());
    for (const safe of [safes.consortium, safes.daoBoard, ...REGIONS.map((r) => safes.dsp[r])]) {
      expect(await client.readContract({ address: safe, abi: safeAbi, functionName: "VERSION" })).toBe(
        "1.5.0",
      );
      // A proxy keeps its singleton in storage slot 0: the real contract, not a look-alike.
      const slot0 = await client.getStorageAt({ address: safe, slot: "0x0" });
      expect(`0x${(slot0 ?? "").slice(26)}`.toLowerCase()).toBe(contracts.safeSingleton.toLowerCase());
    }
    const board = await client.readContract({
      address: safes.daoBoard,
      abi: safeAbi,
      functionName: "getOwners",
    });
    expect(board).toHaveLength(2);
    expect(
      await client.readContract({ address: safes.daoBoard, abi: safeAbi, functionName: "getThreshold" }),
    ).toBe(1n);
  });
});

describe("the Safe Transaction Service double with the real api-kit", () => {
  it("accepts a message signed by two DSP Safes (nested contract signatures) and reads it back", async () => {
    const { chain } = testbed;
    const networks = contractNetworks(chain);
    const apiKit = new SafeApiKit({
      chainId: BigInt(chain.chainId),
      txServiceUrl: testbed.safeServiceUrl,
      apiKey: testbed.safeServiceApiKey,
    });
    const text = `approve manifest ${Date.now().toString(36)}`;

    // Each DSP Safe signs the Consortium Safe's message through one of its own
    // owners, the way Safe{Wallet} does it for a Safe owned by Safes.
    const nested = async (region: Region): Promise<Hex> => {
      const dspKit = await Safe.init({
        provider: chain.rpcUrl,
        signer: chain.keys.dspOwners[region][0],
        safeAddress: chain.safes.dsp[region],
        contractNetworks: networks,
      });
      const inner = await dspKit.signMessage(
        dspKit.createMessage(text),
        // SigningMethod.SAFE_SIGNATURE: protocol-kit's ESM build does not export the enum its types declare.
        "safe_sign",
        chain.safes.consortium,
      );
      const contractSignature = await buildContractSignature(
        [...inner.signatures.values()],
        chain.safes.dsp[region],
      );
      return buildSignatureBytes([contractSignature]) as Hex;
    };
    const [alphaSig, betaSig] = await Promise.all([nested("alpha"), nested("beta")]);
    const hash = safeMessageHash(chain.safes.consortium, chain.chainId, hashMessage(text));
    await apiKit.addMessage(chain.safes.consortium, { message: text, signature: alphaSig });
    await apiKit.addMessageSignature(hash, betaSig);

    const stored = await apiKit.getMessage(hash);
    expect(stored.confirmations.map((c) => c.owner).sort()).toEqual(
      [chain.safes.dsp.alpha, chain.safes.dsp.beta].sort(),
    );
    expect(stored.confirmations.every((c) => c.signatureType === "CONTRACT_SIGNATURE")).toBe(true);

    // What the service hands back must satisfy the Consortium Safe itself, on chain.
    const client = createPublicClient({ transport: http(chain.rpcUrl) });
    const check = (n: bigint): Promise<unknown> =>
      client.readContract({
        address: chain.safes.consortium,
        abi: safeAbi,
        functionName: "checkNSignatures",
        args: [zeroAddress, hash, stored.preparedSignature as `0x${string}`, n],
      });
    await expect(check(2n)).resolves.toBeUndefined();
    await expect(check(3n)).rejects.toThrow(/GS020|revert/);

    // A second confirmation by the same owner is refused, as the real service does.
    await expect(apiKit.addMessageSignature(hash, await nested("alpha"))).rejects.toThrow();
  });
});
