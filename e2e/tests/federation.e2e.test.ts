// Three operators, one federation state: a manifest submitted in one region is
// applied in the regions it targets; a lost region catches up; a partition
// heals into one state; kill -9 loses nothing and applies nothing twice; peers
// with the wrong certificate, and garbage, are refused. Every operator still
// verifies every approval against the chain itself.
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { connect as tcpConnect, type Socket } from "node:net";
import { Watch, type KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatePeerCertificate } from "../support/certificates.ts";
import { openReceipt } from "../../operator/core/receipt/receipt.ts";
import { ed25519PublicKey, noteVerifier, parseVkey } from "../../operator/core/tlog/note.ts";
import { TileClient } from "../../operator/tlog/client.ts";
import { Applier } from "../../operator/runtime/apply.ts";
import { GROUP, VERSION } from "../../operator/api/v1alpha1/fields.ts";
import type { ConsortiumManifestStatus } from "../../operator/api/v1alpha1/consortium-manifest.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import {
  adminConfig,
  installFederation,
  logKey,
  peersThrough,
  startOperator,
  startPeerLinks,
  type OperatorProcess,
} from "../testbed/operator.ts";
import type { TcpProxy } from "../testbed/tcp-proxy.ts";
import { current, killComponent, kubectl, restartComponent, type Testbed } from "../testbed/testbed.ts";
import { approvedSpec, configMapSpec, manifestObject } from "../testbed/approve.ts";
import { eventually } from "../testbed/eventually.ts";
import {
  configMap as readConfigMap,
  consortiumManifest as readManifest,
  federationStatus as readFederationStatus,
  manifestStatus as readManifestStatus,
} from "../testbed/read.ts";

let testbed: Testbed;
const operators = new Map<Region, OperatorProcess>();
/** One proxy per link the dialling region uses (the region whose name sorts first dials). */
let links = new Map<string, TcpProxy>();
const NS = `fed-${Date.now().toString(36)}`;
const kc = (region: Region): KubeConfig => adminConfig(testbed, region);

/**
 * Every region rebases its federation state whenever the document passes 4x its last carry
 * (the genesis is under 1 KB): the whole suite runs across epochs, each region following the
 * others, through withdrawals, a lost region, a partition and kill -9.
 */
const REBASE = { DSC_STATE_REBASE_MB: "0.02", DSC_STATE_REBASE_INTERVAL_S: "5" };

/**
 * A newly applied version's status waits for the other regions' outcomes (DSC_STATUS_SETTLE_MS);
 * longer here than the default 1 s, so that on a loaded machine the first status a region writes
 * still shows them all (asserted below), while a region down delays a status by 5 s only.
 */
const SETTLE = { DSC_STATUS_SETTLE_MS: "5000" };

async function startRegionOperator(region: Region): Promise<void> {
  operators.set(
    region,
    await startOperator(
      testbed,
      region,
      { DSC_RESYNC_SECONDS: "2", ...REBASE, ...SETTLE },
      { federated: true },
    ),
  );
}

beforeAll(async () => {
  testbed = await current();
  links = await startPeerLinks(testbed);
  for (const region of REGIONS) {
    const peers = peersThrough(testbed, links, region);
    await installFederation(testbed, region, { peers });
  }
  await Promise.all(REGIONS.map(startRegionOperator));
  await new Applier(kc("alpha"), { fieldManager: "dsp-admin" }).apply({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: NS },
  });
  await new Applier(kc("beta"), { fieldManager: "dsp-admin" }).apply({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: NS },
  });
}, 180_000);

afterAll(async () => {
  await Promise.all([...operators.values()].map((o) => o.stop()));
  await Promise.all([...links.values()].map((l) => l.close()));
});

/** The reasons of the refused connections gamma's log holds receipts of, read and proven as an outsider would. */
async function refusalReceipts(): Promise<unknown[]> {
  const vkey = parseVkey(logKey(testbed, "gamma").vkey);
  const client = new TileClient(
    `http://127.0.0.1:${String(operators.get("gamma")?.port)}/log/`,
    noteVerifier(vkey.name, vkey.publicKey),
  );
  const checkpoint = await client.checkpoint();
  return (await client.entries(checkpoint, 0, checkpoint.size))
    .map((e) => openReceipt(e, ed25519PublicKey(vkey.publicKey)).receipt)
    .filter((r) => r.kind === "peer.refused" && r.subject === "connection")
    .map((r) => r.details.reason);
}

/** dsc_peer_refused_total by reason, from a metrics page. */
function refusals(metrics: string | undefined): Record<"unknown_certificate" | "tls_handshake", number> {
  const count = (reason: string): number =>
    Number(
      new RegExp(`^dsc_peer_refused_total\\{reason="${reason}"\\} (\\d+)`, "m").exec(metrics ?? "")?.[1] ?? 0,
    );
  return { unknown_certificate: count("unknown_certificate"), tls_handshake: count("tls_handshake") };
}

/** Submits, in `region`, a manifest approved by alpha's and beta's DSPs (upgrade tier). */
async function submit(region: Region, name: string, targets: Region[], nonce = 1, data = "1"): Promise<void> {
  const id = { namespace: NS, name };
  const { spec } = await approvedSpec(
    testbed.chain,
    id,
    configMapSpec(id, { tier: "upgrade", targets, nonce, data: { v: data } }),
    { proposer: region, signers: ["alpha", "beta"] },
  );
  await new Applier(kc(region), { fieldManager: "dsp-admin" }).apply(manifestObject(NS, name, spec));
}

/** Submits, in `region`, a newer version that withdraws the manifest, approved by `signers`' DSPs. */
async function withdraw(
  region: Region,
  name: string,
  version: { nonce: number; tier: "operational" | "upgrade"; signers: Region[] },
): Promise<void> {
  const { spec } = await approvedSpec(
    testbed.chain,
    { namespace: NS, name },
    {
      action: "withdraw",
      tier: version.tier,
      targets: [...REGIONS],
      nonce: version.nonce,
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      objects: [],
    },
    { proposer: region, signers: version.signers },
  );
  await new Applier(kc(region), { fieldManager: "dsp-admin" }).apply(manifestObject(NS, name, spec));
}

const configMap = (region: Region, name: string) => readConfigMap(kc(region), NS, name);
const manifestStatus = (region: Region, name: string) => readManifestStatus(kc(region), NS, name);
const federationStatus = (region: Region) => readFederationStatus(kc(region));

const until = <T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> =>
  eventually(what, probe, { timeoutMs, logs: () => [...operators.values()].map((o) => o.log) });

/** Every status of a manifest a watch in `region` sees, in order, once `open` resolves. */
function statusesSeen(
  region: Region,
  name: string,
): { statuses: ConsortiumManifestStatus[]; open: Promise<unknown>; stop(): void } {
  const statuses: ConsortiumManifestStatus[] = [];
  const open = new Watch(kc(region)).watch(
    `/apis/${GROUP}/${VERSION}/namespaces/${NS}/consortiummanifests`,
    { fieldSelector: `metadata.name=${name}` },
    (_type, object: { status?: ConsortiumManifestStatus }) => {
      if (object.status) statuses.push(object.status);
    },
    () => undefined,
  );
  return {
    statuses,
    open,
    stop: () => {
      open.then(
        (request) => {
          request.abort();
        },
        () => undefined,
      );
    },
  };
}

const appliedIn = (region: Region, name: string, data = "1") =>
  until(`${name} applied in ${region}`, async () => (await configMap(region, name))?.data?.v === data);

describe("one federation state across alpha, beta and gamma", () => {
  it("applies a manifest submitted in alpha in all three regions, and one submitted in beta for gamma only in gamma only", async () => {
    const seen = REGIONS.map((region) => statusesSeen(region, "everywhere"));
    try {
      await Promise.all(seen.map((s) => s.open));
      // Every region connected first, so that alpha's offer of the version reaches both peers
      // before alpha verifies it (asserted below).
      await until("every region connected to both peers", async () =>
        (
          await Promise.all(
            [...operators.values()].map(async (o) =>
              (await o.metrics()).match(/^dsc_peer_connected\{[^}]*\} 1$/gm),
            ),
          )
        ).every((m) => m?.length === 2),
      );
      await submit("alpha", "everywhere", ["alpha", "beta", "gamma"]);
      await submit("beta", "gamma-only", ["gamma"]);
      await Promise.all([
        appliedIn("alpha", "everywhere"),
        appliedIn("beta", "everywhere"),
        appliedIn("gamma", "everywhere"),
        appliedIn("gamma", "gamma-only"),
      ]);
      // Every region shows where it is applied.
      for (const region of REGIONS) {
        await until(
          `regions shown in ${region}`,
          async () =>
            (await manifestStatus(region, "everywhere"))?.regionSummary === "alpha ✓ beta ✓ gamma ✓",
        );
      }
      // One status write per region: the first that shows the version applied there already
      // shows the other two regions' outcomes, rather than a second write following for them.
      for (const [i, region] of REGIONS.entries()) {
        const statuses = seen[i]?.statuses ?? [];
        await until(`the final status seen by a watch in ${region}`, () =>
          Promise.resolve(statuses.some((s) => s.regionSummary === "alpha ✓ beta ✓ gamma ✓")),
        );
        const applied = statuses.filter((s) => s.state === "Applied");
        expect(
          [...new Set(applied.map((s) => s.regionSummary))],
          `the regions the Applied statuses in ${region} showed`,
        ).toEqual(["alpha ✓ beta ✓ gamma ✓"]);
      }
    } finally {
      for (const s of seen) s.stop();
    }
    const notHere = await until("gamma-only mirrored in alpha", () => manifestStatus("alpha", "gamma-only"));
    expect(notHere.conditions?.find((c) => c.type === "Applied")?.reason).toBe("NotTargeted");
    expect(await configMap("alpha", "gamma-only")).toBeUndefined();
    expect(await configMap("beta", "gamma-only")).toBeUndefined();
    // The mirror writes the finalizer with the manifest, under its own field manager; the manifest
    // controller still removes it on a deletion in gamma, and prunes.
    const mirrored = await readManifest(kc("gamma"), NS, "gamma-only");
    expect(mirrored?.metadata?.finalizers).toContain("dsc.federation.dev/prune");
    const managed = (mirrored?.metadata as { managedFields?: { manager?: string; fieldsV1?: unknown }[] })
      .managedFields;
    const owners = (managed ?? [])
      .filter((f) => JSON.stringify(f.fieldsV1 ?? {}).includes("dsc.federation.dev/prune"))
      .map((f) => f.manager);
    expect(owners).toContain("dsc-replication");
    await kubectl(testbed, "gamma", ["-n", NS, "delete", "consortiummanifest", "gamma-only", "--wait=false"]);
    await until("gamma-only pruned and gone in gamma", async () =>
      (await configMap("gamma", "gamma-only")) === undefined &&
      (await readManifest(kc("gamma"), NS, "gamma-only")) === undefined
        ? true
        : undefined,
    );
    // The mirror and the pause enforcer run on the runtime's work queue, with its metrics.
    const metrics = (await operators.get("beta")?.metrics()) ?? "";
    expect(metrics).toMatch(
      /^controller_runtime_reconcile_total\{controller="mirror",result="success"\} [1-9]/m,
    );
    expect(metrics).toMatch(/^workqueue_adds_total\{name="mirror"\} [1-9]/m);
    expect(metrics).toMatch(
      /^controller_runtime_reconcile_total\{controller="guardian",result="requeue_after"\} [1-9]/m,
    );
    expect(metrics).toMatch(/^workqueue_adds_total\{name="guardian"\} [1-9]/m);
    // beta verified alpha's version itself while alpha did, from the spec alpha offered ahead with
    // a hint (replication/spec-messages.ts): checked against the chain here, never taken on trust.
    expect(metrics).toMatch(/^dsc_spec_early_verifications_total\{outcome="verified"\} [1-9]/m);
  });

  it("shows each peer in the Federation's status", async () => {
    // The status is written at the next chain poll: wait for one that has seen both manifests.
    const status = await until("peers connected, both manifests counted", async () => {
      const s = await federationStatus("beta");
      const connected = s?.peers?.length === 2 && s.peers.every((p) => p.connected);
      return connected && (s.document?.manifests ?? 0) >= 2 ? s : undefined;
    });
    expect(status.peerSummary).toBe("alpha ✓ gamma ✓");
    expect(status.document?.manifests).toBeGreaterThanOrEqual(2);
    expect(status.peers?.every((p) => p.lastHeard !== undefined)).toBe(true);
    // The same per peer as metrics, lag included.
    const metrics = (await operators.get("beta")?.metrics()) ?? "";
    for (const peer of ["alpha", "gamma"]) {
      expect(metrics).toMatch(new RegExp(`^dsc_peer_connected\\{peer="${peer}"\\} 1$`, "m"));
      expect(metrics).toMatch(new RegExp(`^dsc_peer_changes_pending\\{peer="${peer}"\\} \\d+$`, "m"));
    }
  });

  it("withdraws a manifest everywhere with a newer version at its tier, never at a lower one, and no restart brings it back", async () => {
    await submit("alpha", "withdrawn", [...REGIONS]);
    await Promise.all(REGIONS.map((region) => appliedIn(region, "withdrawn")));

    // One DSP alone, at the operational tier: below the upgrade-tier version it would replace.
    await withdraw("beta", "withdrawn", { nonce: 2, tier: "operational", signers: ["beta"] });
    const refused = await until("the lower-tier withdraw refused in beta", async () => {
      const status = await manifestStatus("beta", "withdrawn");
      return status?.state === "Refused" && status;
    });
    expect(JSON.stringify(refused.conditions)).toMatch(/tier operational is below tier upgrade/);
    for (const region of REGIONS) expect((await configMap(region, "withdrawn"))?.data?.v).toBe("1");

    // At its tier, by two DSPs: pruned in every region, and shown as withdrawn.
    await withdraw("beta", "withdrawn", { nonce: 3, tier: "upgrade", signers: ["alpha", "beta"] });
    const gone = (region: Region) =>
      until(`withdrawn in ${region}`, async () => {
        const status = await manifestStatus(region, "withdrawn");
        return status?.state === "Withdrawn" && (await configMap(region, "withdrawn")) === undefined;
      });
    await Promise.all(REGIONS.map(gone));
    await until(
      "every region's withdrawal seen from alpha",
      async () => (await manifestStatus("alpha", "withdrawn"))?.regionSummary === "alpha ✓ beta ✓ gamma ✓",
    );

    // gamma's operator killed -9 and started again, and two resyncs later: nothing comes back.
    await operators.get("gamma")?.kill();
    await startRegionOperator("gamma");
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    for (const region of REGIONS) {
      expect(await configMap(region, "withdrawn")).toBeUndefined();
      expect((await manifestStatus(region, "withdrawn"))?.state).toBe("Withdrawn");
    }
  });

  it("keeps a manifest where it was applied when a region that never applied it withdraws it at a lower tier", async () => {
    await submit("alpha", "kept", ["alpha", "beta"]);
    await Promise.all([appliedIn("alpha", "kept"), appliedIn("beta", "kept")]);
    // gamma never applied it, so its own tier record is empty: gamma's DSP alone verifies an
    // operational withdraw there, and it enters the federation state.
    await until(
      "the manifest mirrored into gamma",
      async () => (await manifestStatus("gamma", "kept")) !== undefined,
    );
    await withdraw("gamma", "kept", { nonce: 2, tier: "operational", signers: ["gamma"] });
    await until(
      "gamma took its own withdraw",
      async () => (await manifestStatus("gamma", "kept"))?.state === "Withdrawn",
    );
    // alpha and beta judge it against the upgrade-tier version they applied: not mirrored over it.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    for (const region of ["alpha", "beta"] as const) {
      const cr = await readManifest(kc(region), NS, "kept");
      expect((cr as { spec?: { nonce?: number } } | undefined)?.spec?.nonce, region).toBe(1);
      expect((await configMap(region, "kept"))?.data?.v, region).toBe("1");
      expect((await manifestStatus(region, "kept"))?.state, region).toBe("Applied");
    }
  });

  it("goes on without gamma, and gamma catches up when it returns, applying nothing twice", async () => {
    const before = await configMap("gamma", "everywhere");
    await operators.get("gamma")?.kill();
    await killComponent("gamma/kube-apiserver");
    await submit("alpha", "while-gamma-down", ["alpha", "beta", "gamma"]);
    await Promise.all([appliedIn("alpha", "while-gamma-down"), appliedIn("beta", "while-gamma-down")]);
    await until(
      "gamma pending in beta",
      async () =>
        (await manifestStatus("beta", "while-gamma-down"))?.regionSummary === "alpha ✓ beta ✓ gamma pending",
    );
    // The submission, and each region's outcome: changes gamma has yet to receive, counted.
    await until("alpha counts the changes gamma lacks", async () => {
      const gamma = (await federationStatus("alpha"))?.peers?.find((p) => p.region === "gamma");
      return (gamma?.changesPending ?? 0) >= 2;
    });

    restartComponent("gamma/kube-apiserver");
    await until(
      "gamma's API server back",
      async () => (await configMap("gamma", "everywhere")) !== undefined,
      60_000,
    );
    await startRegionOperator("gamma");
    await appliedIn("gamma", "while-gamma-down");
    await until(
      "all three applied, seen from alpha",
      async () =>
        (await manifestStatus("alpha", "while-gamma-down"))?.regionSummary === "alpha ✓ beta ✓ gamma ✓",
    );
    // What gamma had applied before was not written again.
    const after = await configMap("gamma", "everywhere");
    expect(after?.metadata?.uid).toBe(before?.metadata?.uid);
    expect(after?.metadata?.resourceVersion).toBe(before?.metadata?.resourceVersion);
  });

  it("prunes on a deletion what it applied while the status still waited for a region that is down", async () => {
    const name = "deleted-while-waiting";
    await operators.get("gamma")?.kill();
    try {
      await submit("alpha", name, [...REGIONS]);
      await appliedIn("alpha", name);
      // gamma cannot report: alpha's status waits (DSC_STATUS_SETTLE_MS) and does not show the apply yet.
      expect((await manifestStatus("alpha", name))?.appliedDigest).toBeUndefined();
      await kubectl(testbed, "alpha", ["-n", NS, "delete", "consortiummanifest", name, "--wait=false"]);
      await until(`${name} pruned and gone in alpha`, async () =>
        (await configMap("alpha", name)) === undefined &&
        (await readManifest(kc("alpha"), NS, name)) === undefined
          ? true
          : undefined,
      );
    } finally {
      await startRegionOperator("gamma");
    }
  });

  it("prunes, after a kill -9 during a status wait, what the version that waited applied and the next one drops", async () => {
    const name = "killed-while-waiting";
    const extra = `${name}-extra`;
    const id = { namespace: NS, name };
    const version = async (nonce: number, names: string[]): Promise<void> => {
      const base = configMapSpec(id, { tier: "upgrade", targets: [...REGIONS], nonce, data: { v: "1" } });
      const objects = names.map((n) => ({ ...base.objects[0], metadata: { name: n, namespace: NS } }));
      const { spec } = await approvedSpec(
        testbed.chain,
        id,
        { ...base, objects },
        { proposer: "alpha", signers: ["alpha", "beta"] },
      );
      await new Applier(kc("alpha"), { fieldManager: "dsp-admin" }).apply(manifestObject(NS, name, spec));
    };
    await version(1, [name]);
    const first = await until(`${name} applied in alpha, its status written`, async () => {
      const status = await manifestStatus("alpha", name);
      return status?.regionSummary === "alpha ✓ beta ✓ gamma ✓" ? status.appliedDigest : undefined;
    });
    await operators.get("gamma")?.kill();
    try {
      // Version 2 adds a ConfigMap; gamma cannot report, so alpha's status waits 5 s for it.
      await version(2, [name, extra]);
      await until(`${extra} applied in alpha`, async () => (await configMap("alpha", extra)) !== undefined);
      // Past the outcome's record in the state (milliseconds after the apply), within the wait.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await operators.get("alpha")?.kill();
      expect((await manifestStatus("alpha", name))?.appliedDigest, "killed within the wait").toBe(first);
      // Version 3 drops it, and reaches alpha's cluster while its operator is down.
      await version(3, [name]);
      await startRegionOperator("alpha");
      await until(`${name} nonce 3 applied in alpha`, async () => {
        const status = await manifestStatus("alpha", name);
        return status?.appliedDigest !== undefined &&
          status.appliedDigest !== first &&
          status.state === "Applied"
          ? status.appliedObjects?.length === 1
          : undefined;
      });
      await until(`${extra} pruned in alpha`, async () => (await configMap("alpha", extra)) === undefined);
    } finally {
      await startRegionOperator("gamma");
    }
  });

  it("fetches back from its peers the specs a region lost, identical to what it held", async () => {
    const specsDir = (region: Region) => join(testbed.layout.regionDir(region), "federation-state", "specs");
    const held = async (region: Region) =>
      (await readdir(specsDir(region))).filter((n) => n.endsWith(".json"));
    await until("none missing in beta before", async () =>
      /^dsc_specs_missing 0$/m.test((await operators.get("beta")?.metrics()) ?? ""),
    );
    // The specs of the versions beta runs: no rebase collects those while beta runs them (the
    // state rebases often in this suite, so a superseded version's spec may go meanwhile).
    const running: (readonly [string, string])[] = [];
    for (const manifest of ["everywhere", "while-gamma-down"]) {
      const name = `${(await manifestStatus("beta", manifest))?.appliedDigest?.toLowerCase() ?? "none"}.json`;
      if ((await held("beta")).includes(name))
        running.push([name, await readFile(join(specsDir("beta"), name), "utf8")]);
    }
    expect(running.length).toBeGreaterThanOrEqual(2);
    await operators.get("beta")?.kill();
    await rm(specsDir("beta"), { recursive: true });
    await startRegionOperator("beta");
    const back = async (name: string) =>
      readFile(join(specsDir("beta"), name)).then(
        () => true,
        () => false,
      );
    await until(
      "the specs of what beta runs, back",
      async () => (await Promise.all(running.map(([name]) => back(name)))).every(Boolean),
      60_000,
    );
    // Each comes back from the peers exactly as beta held it.
    for (const [name, json] of running)
      expect(await readFile(join(specsDir("beta"), name), "utf8").catch(() => "missing")).toBe(json);
  });

  it("keeps both sides working through a partition of alpha, and converges when it heals", async () => {
    links.get("alpha-beta")?.cut();
    links.get("alpha-gamma")?.cut();
    try {
      await until("alpha sees its peers gone", async () =>
        (await federationStatus("alpha"))?.peers?.every((p) => !p.connected),
      );
      await submit("alpha", "alpha-side", ["alpha", "beta", "gamma"]);
      await submit("beta", "other-side", ["alpha", "beta", "gamma"]);
      await Promise.all([
        appliedIn("alpha", "alpha-side"),
        appliedIn("beta", "other-side"),
        appliedIn("gamma", "other-side"),
      ]);
      expect(await configMap("beta", "alpha-side")).toBeUndefined();
      expect(await configMap("alpha", "other-side")).toBeUndefined();
    } finally {
      links.get("alpha-beta")?.restore();
      links.get("alpha-gamma")?.restore();
    }
    for (const region of REGIONS) {
      await appliedIn(region, "alpha-side");
      await appliedIn(region, "other-side");
    }
    for (const region of REGIONS) {
      for (const name of ["alpha-side", "other-side"]) {
        await until(
          `${name} converged in ${region}`,
          async () => (await manifestStatus(region, name))?.regionSummary === "alpha ✓ beta ✓ gamma ✓",
        );
      }
    }
  });

  it("resolves concurrent versions of one manifest the same way everywhere: the highest approved nonce wins", async () => {
    links.get("alpha-beta")?.cut();
    links.get("alpha-gamma")?.cut();
    try {
      await until("alpha cut off", async () =>
        (await federationStatus("alpha"))?.peers?.every((p) => !p.connected),
      );
      // The same manifest, changed on both sides of the partition.
      await submit("alpha", "contested", ["alpha", "beta", "gamma"], 2, "from-alpha");
      await submit("beta", "contested", ["alpha", "beta", "gamma"], 3, "from-beta");
      await appliedIn("alpha", "contested", "from-alpha");
      await appliedIn("beta", "contested", "from-beta");
    } finally {
      links.get("alpha-beta")?.restore();
      links.get("alpha-gamma")?.restore();
    }
    for (const region of REGIONS) await appliedIn(region, "contested", "from-beta");
    for (const region of REGIONS) {
      const status = await until(`contested settled in ${region}`, async () => {
        const s = await manifestStatus(region, "contested");
        return s?.appliedNonce === 3 && s.regionSummary === "alpha ✓ beta ✓ gamma ✓" ? s : undefined;
      });
      expect(status.appliedNonce).toBe(3);
    }
  });

  it("loses nothing and applies nothing twice when an operator is killed -9 during sync and apply, again and again", async () => {
    const names: string[] = [];
    for (let round = 0; round < 4; round++) {
      const name = `storm-${String(round)}`;
      names.push(name);
      await submit("alpha", name, ["alpha", "beta", "gamma"]);
      // Kill beta while the change is in flight, then bring it back.
      await new Promise((r) => setTimeout(r, 50 + round * 40));
      await operators.get("beta")?.kill();
      await startRegionOperator("beta");
    }
    for (const name of names) for (const region of REGIONS) await appliedIn(region, name);
    const status = await until("beta's state holds every manifest", async () => {
      const s = await federationStatus("beta");
      return (s?.document?.manifests ?? 0) >= names.length + 5 ? s : undefined;
    });
    expect(status.document?.manifests).toBeGreaterThanOrEqual(names.length + 5);
    // Each object in beta was created once: one ManagedFields entry by the operator, generation 1-ish (never recreated).
    for (const name of names) {
      const cm = await configMap("beta", name);
      expect(cm?.metadata?.managedFields?.filter((f) => f.manager === "dsc-operator")).toHaveLength(1);
    }
  });

  it("refuses a peer with a wrong certificate, and garbage on the sync port, while the others go on", async () => {
    const port = testbed.layout.ports.regions.gamma.peer;
    const refusedBefore = refusals(await operators.get("gamma")?.metrics());
    const handshakeReceiptsBefore = (await refusalReceipts()).filter((r) => r === "tls_handshake").length;
    /** Opens a connection, lets `talk` use it, and gives the server at most 3 s to drop it. */
    const poke = (open: () => Socket, talk: (s: Socket) => void) =>
      new Promise<void>((resolve) => {
        const socket = open();
        const done = (): void => {
          clearTimeout(timer);
          socket.destroy();
          resolve();
        };
        const timer = setTimeout(done, 3000);
        socket.on("error", done);
        socket.on("close", done);
        talk(socket);
      });
    const intruder = generatePeerCertificate(`${testbed.layout.root}/intruder`, "mallory");
    await poke(
      () =>
        tlsConnect({
          host: "127.0.0.1",
          port,
          cert: intruder.cert,
          key: intruder.key,
          rejectUnauthorized: false,
        }),
      (socket) => socket.on("secureConnect", () => socket.write(Buffer.from("hello, I am beta"))),
    );
    await poke(
      () => tcpConnect(port, "127.0.0.1"),
      (socket) =>
        socket.on("connect", () => socket.write(Buffer.from("GET / HTTP/1.1\r\nHost: gamma\r\n\r\n"))),
    );
    await poke(
      () => tcpConnect(port, "127.0.0.1"),
      (socket) =>
        socket.on("connect", () => socket.write(Buffer.from("\x16\x03\x01garbage that claims to be TLS"))),
    );
    const refusedAfter = await until("refusals counted", async () => {
      const now = refusals(await operators.get("gamma")?.metrics());
      return now.unknown_certificate > refusedBefore.unknown_certificate &&
        now.tls_handshake >= refusedBefore.tls_handshake + 2
        ? now
        : undefined;
    });
    expect(refusedAfter.unknown_certificate).toBe(refusedBefore.unknown_certificate + 1);
    // Each refusal is a receipt in gamma's log too: once per reason in 10 minutes, so knocking cannot fill it.
    const refusedReceipts = await until("gamma's receipts of the refusals", async () => {
      const found = await refusalReceipts();
      return found.includes("unknown_certificate") && found.includes("tls_handshake") && found;
    });
    // The two garbage connections above made at most one receipt between them.
    expect(
      refusedReceipts.filter((r) => r === "tls_handshake").length - handshakeReceiptsBefore,
    ).toBeLessThanOrEqual(1);
    await submit("alpha", "after-intruders", ["alpha", "beta", "gamma"]);
    for (const region of REGIONS) await appliedIn(region, "after-intruders");
    const status = await federationStatus("gamma");
    expect(status?.peers?.every((p) => p.connected)).toBe(true);
  });

  it("has rebased its state across the suite, every region following into one epoch", async () => {
    await submit("gamma", "after-rebases", ["alpha", "beta", "gamma"]);
    for (const region of REGIONS) await appliedIn(region, "after-rebases");
    const epochs = await until("one epoch everywhere", async () => {
      const all = await Promise.all(
        REGIONS.map(async (r) => (await federationStatus(r))?.document?.epoch ?? 0),
      );
      return all.every((e) => e === all[0]) && all;
    });
    expect(epochs[0]).toBeGreaterThan(0);
    const rebases = (text: string | undefined): number =>
      [...(text ?? "").matchAll(/^dsc_state_rebases_total\{reason="(?:grown|peer)"\} (\d+)$/gm)].reduce(
        (sum, m) => sum + Number(m[1]),
        0,
      );
    // Operators restarted in the suite count from their restart; at least one rebase somewhere since.
    const counted = await Promise.all(REGIONS.map(async (r) => rebases(await operators.get(r)?.metrics())));
    expect(counted.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    for (const region of REGIONS) {
      expect(await operators.get(region)?.metrics()).toMatch(/^dsc_sync_rejected_messages_total 0$/m);
    }
  });
});
