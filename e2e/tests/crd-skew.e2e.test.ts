// An operator of this release on the Federation CRD of the release before
// (Helm installs CRDs but never upgrades them): there status.conditions is one
// list, owned whole, not a map keyed by type. The pause-status controller's
// write of the Paused condition alone would take the Federation controller's
// conditions with it, and the two would undo each other at every poll. On a
// real API server: the operator says so once (Event CRDOutOfDate), stops
// writing the condition, still shows the pause in status.guardian, and the
// Federation's status settles.
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { parseDocument } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crdFiles } from "../../operator/api/crd-files.ts";
import { GROUP, VERSION } from "../../operator/api/v1alpha1/fields.ts";
import { Applier } from "../../operator/runtime/apply.ts";
import { eventually } from "../testbed/eventually.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import {
  adminConfig,
  directPeers,
  installFederation,
  startSuiteOperator,
  stopFederatedSuite,
  type OperatorProcess,
} from "../testbed/operator.ts";
import { federationStatus } from "../testbed/read.ts";
import { current, type Testbed } from "../testbed/testbed.ts";

let testbed: Testbed;
const operators = new Map<Region, OperatorProcess>();
const RUN = Date.now().toString(36);
const NS = `crd-skew-${RUN}`;
const kc = (region: Region): KubeConfig => adminConfig(testbed, region);
const until = <T>(what: string, probe: () => Promise<T | undefined | false>): Promise<T> =>
  eventually(what, probe, { timeoutMs: 45_000, logs: () => [...operators.values()].map((o) => o.log) });

/** The Federation CRD as the release before had it: status.conditions without a list type (atomic). */
function federationCrdBefore(): Record<string, unknown> {
  const text = Object.entries(crdFiles()).find(([name]) => name.includes("federations"))?.[1];
  if (!text) throw new Error("no Federation CRD among the project's CRDs");
  const crd = parseDocument(text).toJS() as {
    spec: {
      versions: {
        schema: {
          openAPIV3Schema: {
            properties: { status: { properties: Record<string, Record<string, unknown>> } };
          };
        };
      }[];
    };
  };
  for (const version of crd.spec.versions) {
    const conditions = version.schema.openAPIV3Schema.properties.status.properties.conditions;
    if (!conditions?.["x-kubernetes-list-type"])
      throw new Error("this release's conditions are not a map any more");
    delete conditions["x-kubernetes-list-type"];
    delete conditions["x-kubernetes-list-map-keys"];
  }
  return crd;
}

const resourceVersion = async (region: Region): Promise<string> =>
  (
    (await kc(region)
      .makeApiClient(CustomObjectsApi)
      .getClusterCustomObject({ group: GROUP, version: VERSION, plural: "federations", name: "dsc" })) as {
      metadata: { resourceVersion: string };
    }
  ).metadata.resourceVersion;

beforeAll(async () => {
  testbed = await current();
  for (const region of REGIONS) {
    await installFederation(testbed, region, {
      peers: directPeers(testbed, region),
      guardian: { action: "Freeze" },
    });
    await new Applier(kc(region), { fieldManager: "dsp-admin" }).apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: NS },
    });
  }
  // After installFederation, which applies this release's CRDs; as it applies them, so that
  // putting them back (stopFederatedSuite) takes the field again.
  await new Applier(kc("alpha"), { fieldManager: "dsc-testbed" }).apply(federationCrdBefore() as never);
  for (const region of REGIONS)
    operators.set(region, await startSuiteOperator(testbed, region, `crd-skew-state-${RUN}`));
}, 120_000);

afterAll(async () => {
  // Puts this release's CRDs back (installFederation) and each Federation as installed.
  await stopFederatedSuite(testbed, { operators, links: new Map(), namespace: NS });
}, 120_000);

describe("an operator on the Federation CRD of the release before", () => {
  it("says so once, leaves the conditions to the Federation controller, and still shows the pause state", async () => {
    await until("a CRDOutOfDate Event on alpha's Federation", async () => {
      const events = await kc("alpha").makeApiClient(CoreV1Api).listEventForAllNamespaces({
        fieldSelector: "reason=CRDOutOfDate,involvedObject.kind=Federation",
      });
      return events.items.length > 0;
    });
    await until("alpha's Federation Ready again, with status.guardian", async () => {
      const status = await federationStatus(kc("alpha"));
      return status?.conditions?.some((c) => c.type === "Ready") && status.guardian !== undefined;
    });
    // Settled: two writers undoing each other write at every poll (0.5 s): 12 versions in these
    // 6 s with the check removed. The Federation controller alone refreshes what only moves at
    // most every 5 s: 2 or 3 versions here, 5 once in a CI run on a loaded machine.
    const seen = new Set<string>();
    for (const end = performance.now() + 6_000; performance.now() < end;) {
      seen.add(await resourceVersion("alpha"));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(seen.size).toBeLessThanOrEqual(6);
    const said = await kc("alpha").makeApiClient(CoreV1Api).listEventForAllNamespaces({
      fieldSelector: "reason=CRDOutOfDate,involvedObject.kind=Federation",
    });
    expect(said.items.reduce((n, e) => n + (e.count ?? 1), 0)).toBe(1);
    const status = await federationStatus(kc("alpha"));
    expect(status?.conditions?.map((c) => c.type)).toContain("Ready");
    expect(status?.guardian?.paused).toBe(false);
    // The regions on this release's CRD show the condition beside the Federation controller's.
    for (const region of REGIONS.filter((r) => r !== "alpha")) {
      const types = await until(`the Paused condition in ${region}`, async () => {
        const t = (await federationStatus(kc(region)))?.conditions?.map((c) => c.type);
        return t?.includes("Paused") && t.includes("Ready") ? t : undefined;
      });
      expect(types).toEqual(expect.arrayContaining(["Paused", "Ready"]));
    }
  });
});
