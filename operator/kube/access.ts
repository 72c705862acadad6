// What the runtime's constructors accept as a connection: the operator's own
// KubeClient, or anything that can export a kubeconfig, which client-node's
// KubeConfig does. Tests, benchmarks and the CLI hold client-node KubeConfigs
// and may hand them to an Applier or an Informer; the operator process never
// does, so it never loads client-node. Only the exported text is read, no
// client-node type is named here.
import { KubeClient } from "./client.ts";
import { parseKubeconfig } from "./config.ts";

/** client-node's KubeConfig, structurally: its exportConfig() returns the kubeconfig as JSON. */
interface KubeConfigSource {
  exportConfig(): string;
}

export type KubeAccess = KubeClient | KubeConfigSource;

// One client per source, so that every ObjectApi or Informer made from one KubeConfig shares its
// connections and discovery cache. A KubeConfig changed after its first use is not seen again.
const clients = new WeakMap<KubeConfigSource, KubeClient>();

export function kubeClient(access: KubeAccess): KubeClient {
  if (access instanceof KubeClient) return access;
  let client = clients.get(access);
  if (!client) {
    // client-node makes file paths absolute when it loads a file, so the directory is moot.
    client = new KubeClient(
      parseKubeconfig(access.exportConfig(), { dir: process.cwd(), source: "KubeConfig" }),
    );
    clients.set(access, client);
  }
  return client;
}
