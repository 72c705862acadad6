// Reading what the operators wrote, as a test, the demo or a bench sees it:
// the Federation's status, a namespaced object's status, a ConfigMap, a
// Deployment. Namespaced reads answer undefined for an object not there yet.
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import type { BreachReportStatus } from "../../operator/api/v1alpha1/breach-report.ts";
import type { ConsortiumManifestStatus } from "../../operator/api/v1alpha1/consortium-manifest.ts";
import type { FederationStatus } from "../../operator/api/v1alpha1/federation.ts";
import { GROUP, VERSION } from "../../operator/api/v1alpha1/fields.ts";
import type { ObjectMeta } from "../../operator/kube/object.ts";

export async function federationStatus(kc: KubeConfig, name = "dsc"): Promise<FederationStatus | undefined> {
  const o = (await kc
    .makeApiClient(CustomObjectsApi)
    .getClusterCustomObject({ group: GROUP, version: VERSION, plural: "federations", name })) as {
    status?: FederationStatus;
  };
  return o.status;
}

/** A namespaced custom object as the API server sends it; its status is the caller's type to name. */
interface Namespaced<S> {
  metadata?: ObjectMeta;
  status?: S;
}

async function namespacedObject(
  kc: KubeConfig,
  plural: string,
  namespace: string,
  name: string,
): Promise<Namespaced<unknown> | undefined> {
  return (await kc
    .makeApiClient(CustomObjectsApi)
    .getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name })
    .catch(() => undefined)) as Namespaced<unknown> | undefined;
}

const namespacedStatus = async <S>(
  kc: KubeConfig,
  plural: string,
  namespace: string,
  name: string,
): Promise<S | undefined> => (await namespacedObject(kc, plural, namespace, name))?.status as S | undefined;

/** A ConsortiumManifest whole (metadata and status), or undefined. */
export const consortiumManifest = async (
  kc: KubeConfig,
  namespace: string,
  name: string,
): Promise<Namespaced<ConsortiumManifestStatus> | undefined> =>
  (await namespacedObject(kc, "consortiummanifests", namespace, name)) as
    Namespaced<ConsortiumManifestStatus> | undefined;

export const manifestStatus = (kc: KubeConfig, namespace: string, name: string) =>
  namespacedStatus<ConsortiumManifestStatus>(kc, "consortiummanifests", namespace, name);

export const breachReportStatus = (kc: KubeConfig, namespace: string, name: string) =>
  namespacedStatus<BreachReportStatus>(kc, "breachreports", namespace, name);

export const configMap = (kc: KubeConfig, namespace: string, name: string) =>
  kc
    .makeApiClient(CoreV1Api)
    .readNamespacedConfigMap({ name, namespace })
    .catch(() => undefined);

export const deployment = (kc: KubeConfig, namespace: string, name: string) =>
  kc
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ name, namespace })
    .catch(() => undefined);
