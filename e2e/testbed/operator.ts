// Runs the operator against a test-bed region the way a cluster would: its
// own process, its own identity (client certificate), a Federation and an RPC
// Secret in dsc-system. Tests start and kill these processes themselves.
import { OWNERSHIP_POLICY_NAME, POLICY_NAME } from "../../operator/admission/policy.ts";
import { SCALE_POLICY_NAME } from "../../operator/admission/scale-guard.ts";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { parseDocument } from "yaml";
import { crdFiles } from "../../operator/api/crd-files.ts";
import { generatePeerCertificate, type PeerCertificate } from "../support/certificates.ts";
import { Applier } from "../../operator/runtime/apply.ts";
import { approvedSpec, manifestObject } from "./approve.ts";
import { REGIONS, type Region } from "./layout.ts";
import { freePort } from "./process.ts";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";
import type { Testbed, TestbedChain } from "./testbed.ts";
import type { Address } from "viem";
import type { FederationSpec } from "../../operator/api/v1alpha1/federation.ts";
import { imageNodeFlags } from "./image.ts";
import { ED25519, ed25519Key, formatVkey } from "../../operator/core/tlog/note.ts";
import { logOrigin } from "../../operator/receipts/receipt-log.ts";

const repo = resolve(import.meta.dirname, "../..");

export function adminConfig(testbed: Testbed, region: Region): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testbed.kubeconfig[region]);
  return kc;
}

/**
 * A region's Federation spec on the test bed's chain, without peers or a
 * guardian: what installFederation starts from, and what tests and the bench
 * verify against. anvil mines a block per transaction and never reorganises:
 * read at the head.
 */
export function federationSpec(chain: TestbedChain, region: Region): FederationSpec {
  const dspIndex = { alpha: 1, beta: 2, gamma: 3 }[region];
  return {
    region,
    dsp: { name: `DSP-${String(dspIndex)}`, safe: chain.safes.dsp[region] },
    chain: { chainId: chain.chainId, rpcUrlSecretRef: { name: "chain-rpc", key: "url" }, confirmations: 0 },
    consortiumSafe: chain.safes.consortium,
    daoBoardSafe: chain.safes.daoBoard,
    agentRegistry: chain.federation.agentRegistry,
  };
}

/** CRDs, the operator's namespace, the RPC Secret and the region's Federation, applied as an admin would. */
export async function installFederation(
  testbed: Testbed,
  region: Region,
  options: {
    rpcUrl?: string;
    safeServiceUrl?: string;
    name?: string;
    /** The other regions this one replicates with, and the host:port it dials each at. */
    peers?: Partial<Record<Region, string>>;
    /** spec.guardian, with the test bed's GuardianPause; the key and token go into Secrets. */
    guardian?: {
      action?: "Freeze" | "ScaleToZero" | "DenyAll";
      /** Record pauses on chain with the test bed's guardian key. */
      recordOnChain?: boolean;
      alertmanagerToken?: string;
      alerts?: { alertname: string; severities?: string[] }[];
    };
    /** spec.log.anchor: the LogAnchor contract, and the region's anchoring key in a Secret. */
    anchor?: { contract: Address; intervalSeconds: number };
  } = {},
): Promise<void> {
  const kc = adminConfig(testbed, region);
  const applier = new Applier(kc, { fieldManager: "dsc-testbed" });
  await installCrds(testbed, region);
  const { chain } = testbed;
  await applier.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "dsc-system" } });
  await applier.apply({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "chain-rpc", namespace: "dsc-system" },
    stringData: { url: options.rpcUrl ?? chain.rpcUrl },
  } as never);
  if (options.safeServiceUrl)
    await applier.apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "safe-service", namespace: "dsc-system" },
      stringData: { apiKey: testbed.safeServiceApiKey },
    } as never);
  const guardian = options.guardian;
  if (guardian) {
    await applier.apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "guardian", namespace: "dsc-system" },
      stringData: { key: chain.keys.guardian, alertmanager: guardian.alertmanagerToken ?? "" },
    } as never);
  }
  if (options.anchor)
    await applier.apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "log-anchor", namespace: "dsc-system" },
      stringData: { key: chain.keys.anchorers[region] },
    } as never);
  await applier.apply({
    apiVersion: "dsc.federation.dev/v1alpha1",
    kind: "Federation",
    metadata: { name: options.name ?? "dsc" },
    spec: {
      ...federationSpec(chain, region),
      ...(options.safeServiceUrl
        ? {
            safeTransactionService: {
              url: options.safeServiceUrl,
              apiKeySecretRef: { name: "safe-service", key: "apiKey" },
            },
          }
        : {}),
      ...(guardian
        ? {
            guardian: {
              pauseContract: testbed.chain.federation.guardianPause,
              action: guardian.action ?? "Freeze",
              ...(guardian.recordOnChain ? { guardianKeySecretRef: { name: "guardian", key: "key" } } : {}),
              ...(guardian.alertmanagerToken
                ? {
                    alertmanager: {
                      tokenSecretRef: { name: "guardian", key: "alertmanager" },
                      alerts: guardian.alerts ?? [{ alertname: "DscInvariantBroken" }],
                    },
                  }
                : {}),
            },
          }
        : {}),
      ...(options.anchor
        ? {
            log: {
              anchor: {
                contract: options.anchor.contract,
                anchorKeySecretRef: { name: "log-anchor", key: "key" },
                intervalSeconds: options.anchor.intervalSeconds,
              },
            },
          }
        : {}),
      ...(options.peers
        ? {
            peers: Object.entries(options.peers).map(([peer, endpoint]) => ({
              region: peer,
              endpoint,
              certificateSha256: peerCertificate(testbed, peer as Region).fingerprint,
              logKey: logKey(testbed, peer as Region).vkey,
            })),
          }
        : {}),
    },
  } as never);
}

/**
 * A region's log key, made once per test bed beside its certificate: the
 * operator reads the seed (DSC_LOG_KEY_FILE) and its peers pin the vkey.
 */
export function logKey(
  testbed: Testbed,
  region: Region,
): { readonly file: string; readonly seed: Uint8Array; readonly vkey: string } {
  const dir = join(testbed.layout.root, "peers");
  const file = join(dir, `${region}.log-key`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
  }
  const seed = new Uint8Array(Buffer.from(readFileSync(file, "utf8").trim(), "hex"));
  return { file, seed, vkey: formatVkey(logOrigin(undefined, region), ED25519, ed25519Key(seed).publicKey) };
}

/** A region operator's peer identity: its TLS certificate, made once per test bed. */
export function peerCertificate(testbed: Testbed, region: Region): PeerCertificate {
  return generatePeerCertificate(join(testbed.layout.root, "peers"), region);
}

/**
 * kubectl arguments that delete the operator's admission policies and their bindings: they name
 * one operator's identity, so a suite that ran another (the chart's) removes them for the next.
 */
export const DELETE_ADMISSION_POLICIES = [
  "delete",
  "validatingadmissionpolicybinding,validatingadmissionpolicy",
  POLICY_NAME,
  OWNERSHIP_POLICY_NAME,
  SCALE_POLICY_NAME,
  "--ignore-not-found",
] as const;

/** Each other region's federation endpoint, dialled directly. */
export const directPeers = (testbed: Testbed, region: Region): Partial<Record<Region, string>> =>
  peersThrough(testbed, new Map(), region);

/**
 * One TCP proxy per pair of regions ("alpha-beta"), in front of the second's
 * federation endpoint: the region whose name sorts first dials, so a test
 * that cuts a proxy cuts that link.
 */
export async function startPeerLinks(testbed: Testbed): Promise<Map<string, TcpProxy>> {
  const links = new Map<string, TcpProxy>();
  for (const [i, from] of REGIONS.entries())
    for (const to of REGIONS.slice(i + 1))
      links.set(`${from}-${to}`, await startTcpProxy(testbed.layout.ports.regions[to].peer));
  return links;
}

/** Each other region's endpoint as `region` dials it: through `links` where there is one, else directly. */
export function peersThrough(
  testbed: Testbed,
  links: ReadonlyMap<string, TcpProxy>,
  region: Region,
): Partial<Record<Region, string>> {
  return Object.fromEntries(
    REGIONS.filter((r) => r !== region).map((r) => {
      const link = links.get(`${region}-${r}`);
      return [r, `127.0.0.1:${String(link ? link.port : testbed.layout.ports.regions[r].peer)}`];
    }),
  );
}

/** The project's CRDs in `region`, established. */
export async function installCrds(testbed: Testbed, region: Region): Promise<void> {
  const kc = adminConfig(testbed, region);
  const applier = new Applier(kc, { fieldManager: "dsc-testbed" });
  for (const text of Object.values(crdFiles())) await applier.apply(parseDocument(text).toJS() as never);
  const core = kc.makeApiClient(CoreV1Api);
  for (let i = 0; i < 100; i++) {
    const list = await core.listNamespace().catch(() => undefined);
    if (list) break;
    await sleep(50);
  }
  await waitForCrds(kc);
}

async function waitForCrds(kc: KubeConfig): Promise<void> {
  const { ApiextensionsV1Api, CustomObjectsApi } = await import("@kubernetes/client-node");
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const objects = kc.makeApiClient(CustomObjectsApi);
  for (let i = 0; i < 200; i++) {
    const crds = await api.listCustomResourceDefinition();
    const ours = crds.items.filter((c) => c.spec.group === "dsc.federation.dev");
    const established =
      ours.length >= Object.keys(crdFiles()).length &&
      ours.every((c) => c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True"));
    // Established is not yet servable: a new CRD's storage answers 429 for a moment.
    const servable =
      established &&
      (
        await Promise.all(
          ours.map((c) =>
            objects
              .listClusterCustomObject({
                group: c.spec.group,
                version: c.spec.versions[0]?.name ?? "v1alpha1",
                plural: c.spec.names.plural,
              })
              .then(
                () => true,
                () => false,
              ),
          ),
        )
      ).every(Boolean);
    if (servable) return;
    await sleep(50);
  }
  throw new Error("the DSC CRDs were not established in time");
}

export interface OperatorProcess {
  readonly region: Region;
  readonly port: number;
  readonly child: ChildProcess;
  readonly log: string;
  metrics(): Promise<string>;
  /** SIGKILL, as a crashed pod: no clean-up runs. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Run with a peer identity and federation state (replication with the other regions). */
  readonly federated?: boolean;
  /** A tree holding another release's `operator/` (release.ts); this checkout's by default. */
  readonly source?: string;
}

export async function startOperator(
  testbed: Testbed,
  region: Region,
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<OperatorProcess> {
  const peerEnv: Record<string, string> = {};
  if (options.federated) {
    const certificate = peerCertificate(testbed, region);
    const listen = `127.0.0.1:${String(testbed.layout.ports.regions[region].peer)}`;
    Object.assign(peerEnv, {
      DSC_PEER_CERT: certificate.certFile,
      DSC_PEER_KEY: certificate.keyFile,
      DSC_PEER_LISTEN: listen,
      DSC_PEER_ADVERTISE: listen,
      DSC_STATE_DIR: join(testbed.layout.regionDir(region), "federation-state"),
      DSC_HEARTBEAT_MS: "250",
      DSC_LOG_KEY_FILE: logKey(testbed, region).file,
    });
  }
  const port = await freePort();
  const log = join(testbed.layout.regionDir(region), `operator-${String(Date.now())}.log`);
  const fd = openSync(log, "a");
  const child = spawn(
    process.execPath,
    [...imageNodeFlags(), join(options.source ?? repo, "operator/main.ts")],
    {
      env: {
        ...process.env,
        KUBECONFIG: join(testbed.layout.regionDir(region), "dsc-operator.kubeconfig"),
        DSC_NAMESPACE: "dsc-system",
        DSC_REGION: region,
        DSC_HTTP_HOST: "127.0.0.1",
        DSC_HTTP_PORT: String(port),
        DSC_LEADER_ELECTION: "false",
        DSC_RESYNC_SECONDS: "1",
        DSC_CHAIN_POLL_SECONDS: "0.5",
        LOG_LEVEL: "debug",
        ...peerEnv,
        ...env,
      },
      stdio: ["ignore", fd, fd],
    },
  );
  const exited = new Promise<void>((r) =>
    child.once("exit", () => {
      r();
    }),
  );
  const url = `http://127.0.0.1:${String(port)}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the ${region} operator exited at start; see ${log}`);
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 600) throw new Error(`the ${region} operator was not ready in 30 s; see ${log}`);
    await sleep(50);
  }
  return {
    region,
    port,
    child,
    log,
    metrics: () => fetch(`${url}/metrics`).then((r) => r.text()),
    kill: async () => {
      child.kill("SIGKILL");
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * Federations in all three regions with `options(region)`, a namespace for the suite in
 * each, and a federated operator per region with a federation state of the suite's own
 * (`stateName`: a pause must not leak into other suites) and a 2 s resync.
 */
export async function startFederatedSuite(
  testbed: Testbed,
  o: {
    readonly namespace: string;
    readonly stateName: string;
    readonly options: (region: Region) => Parameters<typeof installFederation>[2];
    /** Another release's tree to run (release.ts); this checkout's by default. */
    readonly source?: string;
  },
): Promise<Map<Region, OperatorProcess>> {
  const operators = new Map<Region, OperatorProcess>();
  for (const region of REGIONS) {
    await installFederation(testbed, region, o.options(region));
    await new Applier(adminConfig(testbed, region), { fieldManager: "dsp-admin" }).apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: o.namespace },
    });
  }
  await Promise.all(
    REGIONS.map(async (region) => {
      operators.set(region, await startSuiteOperator(testbed, region, o.stateName, o.source));
    }),
  );
  return operators;
}

/** A region's federated operator with a suite's own state (`stateName`) and a 2 s resync. */
export const startSuiteOperator = (
  testbed: Testbed,
  region: Region,
  stateName: string,
  source?: string,
): Promise<OperatorProcess> =>
  startOperator(
    testbed,
    region,
    { DSC_RESYNC_SECONDS: "2", DSC_STATE_DIR: join(testbed.layout.regionDir(region), stateName) },
    { federated: true, ...(source !== undefined ? { source } : {}) },
  );

/** Stops a suite's operators and peer links, deletes its namespace, and puts each Federation back as installed. */
export async function stopFederatedSuite(
  testbed: Testbed,
  o: {
    readonly operators: ReadonlyMap<Region, OperatorProcess>;
    readonly links: ReadonlyMap<string, TcpProxy>;
    readonly namespace: string;
  },
): Promise<void> {
  await Promise.all([...o.operators.values()].map((p) => p.stop()));
  await Promise.all([...o.links.values()].map((l) => l.close()));
  for (const region of REGIONS) {
    const kc = adminConfig(testbed, region);
    await kc
      .makeApiClient(CoreV1Api)
      .deleteNamespace({ name: o.namespace })
      .catch(() => undefined);
    await installFederation(testbed, region);
  }
}

/** A DSP's admin in `region` applies `spec` in `namespace`, proposed by that region's agent and approved as `options` say. */
export async function submitApproved(
  testbed: Testbed,
  region: Region,
  namespace: string,
  name: string,
  spec: Parameters<typeof approvedSpec>[2],
  options: Parameters<typeof approvedSpec>[3],
): Promise<void> {
  const approved = await approvedSpec(testbed.chain, { namespace, name }, spec, {
    proposer: region,
    ...options,
  });
  await new Applier(adminConfig(testbed, region), { fieldManager: "dsp-admin" }).apply(
    manifestObject(namespace, name, approved.spec),
  );
}
