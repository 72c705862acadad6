import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  KubeConfigError,
  loadDefault,
  loadInCluster,
  loadKubeconfigFile,
  loadKubeconfigFiles,
  parseKubeconfig,
} from "./config.ts";

const b64 = (text: string): string => Buffer.from(text).toString("base64");

function kubeconfig(
  overrides: { users?: unknown[]; clusters?: unknown[]; contexts?: unknown[] } = {},
): object {
  return {
    apiVersion: "v1",
    kind: "Config",
    clusters: overrides.clusters ?? [
      {
        name: "one",
        cluster: { server: "https://one.example:6443/", "certificate-authority-data": b64("CA ONE") },
      },
      {
        name: "two",
        cluster: {
          server: "https://two.example",
          "insecure-skip-tls-verify": true,
          "tls-server-name": "api",
        },
      },
    ],
    users: overrides.users ?? [
      { name: "cert", user: { "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY") } },
      { name: "token", user: { token: "t0ken" } },
    ],
    contexts: overrides.contexts ?? [
      { name: "a", context: { cluster: "one", user: "cert", namespace: "team" } },
      { name: "b", context: { cluster: "two", user: "token" } },
    ],
    "current-context": "a",
  };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kube-config-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("kubeconfig", () => {
  it("reads the current context: server without trailing slash, data fields decoded, its namespace", () => {
    const s = parseKubeconfig(stringify(kubeconfig()), { dir });
    expect(s.server).toBe("https://one.example:6443");
    expect(s.namespace).toBe("team");
    expect(s.ca?.toString()).toBe("CA ONE");
    expect(s.cert?.toString()).toBe("CERT");
    expect(s.key?.toString()).toBe("KEY");
    expect(s.insecureSkipTlsVerify).toBe(false);
    expect(s.token).toBeUndefined();
  });

  it("reads a named context: token user, insecure-skip-tls-verify, tls-server-name, default namespace", () => {
    const s = parseKubeconfig(stringify(kubeconfig()), { dir, context: "b" });
    expect(s).toMatchObject({
      server: "https://two.example",
      namespace: "default",
      insecureSkipTlsVerify: true,
      tlsServerName: "api",
      token: "t0ken",
    });
    expect(s.ca).toBeUndefined();
    expect(() => parseKubeconfig(stringify(kubeconfig()), { dir, context: "nope" })).toThrow(
      /no context named "nope"/,
    );
  });

  it("resolves relative file paths against the kubeconfig's directory", () => {
    mkdirSync(join(dir, "pki"));
    writeFileSync(join(dir, "pki", "ca.crt"), "CA FILE");
    writeFileSync(join(dir, "pki", "client.crt"), "CERT FILE");
    writeFileSync(join(dir, "pki", "client.key"), "KEY FILE");
    writeFileSync(join(dir, "pki", "token"), "file-token\n");
    const file = join(dir, "config");
    writeFileSync(
      file,
      stringify(
        kubeconfig({
          clusters: [
            { name: "one", cluster: { server: "https://x", "certificate-authority": "pki/ca.crt" } },
          ],
          users: [
            {
              name: "cert",
              user: {
                "client-certificate": "pki/client.crt",
                "client-key": join(dir, "pki", "client.key"), // absolute stays as is
                tokenFile: "./pki/token",
              },
            },
          ],
        }),
      ),
    );
    // Loaded from another working directory: the paths still resolve.
    const s = loadKubeconfigFile(file);
    expect(s.ca?.toString()).toBe("CA FILE");
    expect(s.cert?.toString()).toBe("CERT FILE");
    expect(s.key?.toString()).toBe("KEY FILE");
    expect(s.tokenFile).toBe(join(dir, "pki", "token"));
  });

  it("refuses an exec plugin or auth provider, naming the user and what to use instead", () => {
    const exec = kubeconfig({
      users: [
        {
          name: "eks-admin",
          user: { exec: { command: "aws", apiVersion: "client.authentication.k8s.io/v1" } },
        },
      ],
      contexts: [{ name: "a", context: { cluster: "one", user: "eks-admin" } }],
    });
    expect(() => parseKubeconfig(stringify(exec), { dir })).toThrow(KubeConfigError);
    expect(() => parseKubeconfig(stringify(exec), { dir })).toThrow(
      /user "eks-admin" authenticates with an exec credential plugin.*token.*client certificate/,
    );
    const provider = kubeconfig({
      users: [{ name: "gke", user: { "auth-provider": { name: "gcp" } } }],
      contexts: [{ name: "a", context: { cluster: "one", user: "gke" } }],
    });
    expect(() => parseKubeconfig(stringify(provider), { dir })).toThrow(/user "gke".*auth provider "gcp"/);
  });

  it("refuses a certificate without its key", () => {
    const half = kubeconfig({ users: [{ name: "cert", user: { "client-certificate-data": b64("CERT") } }] });
    expect(() => parseKubeconfig(stringify(half), { dir })).toThrow(/without the other/);
  });

  it("merges several files as $KUBECONFIG: first definition and first current-context win", () => {
    const first = join(dir, "first");
    const second = join(dir, "second");
    writeFileSync(first, stringify({ clusters: [{ name: "one", cluster: { server: "https://first" } }] }));
    writeFileSync(second, stringify(kubeconfig()));
    const s = loadKubeconfigFiles([first, second]);
    expect(s.server).toBe("https://first");
    expect(s.cert?.toString()).toBe("CERT");
    expect(loadDefault({ env: { KUBECONFIG: `${first}:${second}` }, home: dir }).server).toBe(
      "https://first",
    );
  });

  it("reads what client-node's KubeConfig exports (how tests hand their KubeConfigs to the runtime)", () => {
    const kc = new KubeConfig();
    kc.loadFromString(stringify(kubeconfig()));
    kc.setCurrentContext("b");
    const s = parseKubeconfig(kc.exportConfig(), { dir });
    expect(s).toMatchObject({ server: "https://two.example", token: "t0ken", insecureSkipTlsVerify: true });
  });
});

describe("in-cluster", () => {
  function serviceAccount(namespace?: string): string {
    const sa = join(dir, "serviceaccount");
    mkdirSync(sa);
    writeFileSync(join(sa, "token"), "sa-token");
    writeFileSync(join(sa, "ca.crt"), "CLUSTER CA");
    if (namespace) writeFileSync(join(sa, "namespace"), `${namespace}\n`);
    return sa;
  }

  it("uses the service account's token file, CA and namespace", () => {
    const sa = serviceAccount("dsc-system");
    const env = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };
    const s = loadInCluster({ env, serviceAccountDir: sa });
    expect(s).toMatchObject({
      server: "https://10.96.0.1:443",
      namespace: "dsc-system",
      tokenFile: join(sa, "token"),
      source: "in-cluster",
    });
    expect(s.ca?.toString()).toBe("CLUSTER CA");
    expect(s.token).toBeUndefined(); // read by the client, again every minute
  });

  it("brackets an IPv6 host, and is what loadDefault falls back to without any kubeconfig", () => {
    const sa = serviceAccount();
    const env = { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "6443" };
    const s = loadDefault({ env, home: dir, serviceAccountDir: sa });
    expect(s.server).toBe("https://[fd00::1]:6443");
    expect(s.namespace).toBe("default");
  });

  it("prefers ~/.kube/config over the service account", () => {
    const sa = serviceAccount();
    mkdirSync(join(dir, ".kube"));
    writeFileSync(join(dir, ".kube", "config"), stringify(kubeconfig()));
    const env = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };
    expect(loadDefault({ env, home: dir, serviceAccountDir: sa }).server).toBe("https://one.example:6443");
  });

  it("says so when neither a kubeconfig nor a cluster is there", () => {
    expect(() => loadDefault({ env: {}, home: dir, serviceAccountDir: join(dir, "none") })).toThrow(
      /not in a cluster/,
    );
  });
});
