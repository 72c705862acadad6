// Where the API server is and how to prove who we are: read from a kubeconfig
// file or from the pod's service account, as client-node's loadFromFile,
// loadFromDefault and loadFromCluster do, without client-node (whose
// KubeConfig alone loads its 2,700 generated model classes, tens of MB).
//
// Only what an operator needs is supported: a server with a CA (file or
// data, or insecure-skip-tls-verify) and an optional TLS server name; a user
// with a client certificate and key (file or data) and/or a bearer token
// (inline or a file). Exec plugins and auth providers run programs or speak
// OAuth; the operator runs in-cluster with its service account and has no use
// for them, so they are refused with a clear error instead of half-working.
// The CLI keeps client-node for those.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { parse } from "yaml";

export interface KubeSettings {
  /** e.g. `https://10.0.0.1:443`, without a trailing slash. */
  readonly server: string;
  /** The context's namespace, else `default` (else the service account's, in-cluster). */
  readonly namespace: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly insecureSkipTlsVerify: boolean;
  readonly tlsServerName?: string;
  readonly token?: string;
  /** Read again periodically by the client: bound service-account tokens rotate. */
  readonly tokenFile?: string;
  /** Where these came from, for error messages: a file and context, or "in-cluster". */
  readonly source: string;
}

// The kubeconfig file format (clientcmd/api/v1), the fields read here.
interface NamedCluster {
  readonly name?: string;
  readonly cluster?: {
    readonly server?: string;
    readonly "certificate-authority"?: string | null;
    readonly "certificate-authority-data"?: string | null;
    readonly "insecure-skip-tls-verify"?: boolean | null;
    readonly "tls-server-name"?: string | null;
    readonly "proxy-url"?: string | null;
  };
}
interface NamedUser {
  readonly name?: string;
  readonly user?: {
    readonly "client-certificate"?: string | null;
    readonly "client-certificate-data"?: string | null;
    readonly "client-key"?: string | null;
    readonly "client-key-data"?: string | null;
    readonly token?: string | null;
    readonly tokenFile?: string | null;
    readonly username?: string | null;
    readonly password?: string | null;
    readonly exec?: unknown;
    readonly "auth-provider"?: { readonly name?: string; readonly config?: Record<string, string> } | null;
  };
}
interface NamedContext {
  readonly name?: string;
  readonly context?: { readonly cluster?: string; readonly user?: string; readonly namespace?: string };
}
interface KubeconfigFile {
  readonly clusters?: NamedCluster[] | null;
  readonly users?: NamedUser[] | null;
  readonly contexts?: NamedContext[] | null;
  readonly "current-context"?: string | null;
}

// A file path as written in the kubeconfig, made absolute against the kubeconfig's own directory
// (as kubectl does), and the directory recorded per entry since merged files may sit in several.
interface Located<T> {
  readonly entry: T;
  readonly dir: string;
}

interface Merged {
  readonly clusters: Map<string, Located<NamedCluster>>;
  readonly users: Map<string, Located<NamedUser>>;
  readonly contexts: Map<string, NamedContext>;
  currentContext: string | undefined;
}

export class KubeConfigError extends Error {
  override name = "KubeConfigError";
}

/** Parses kubeconfig text; relative file paths in it are resolved against `dir`. */
export function parseKubeconfig(
  text: string,
  options: { readonly dir: string; readonly context?: string; readonly source?: string },
): KubeSettings {
  const merged = emptyMerge();
  mergeInto(merged, parseFile(text, options.source ?? "kubeconfig"), options.dir);
  return settingsOf(merged, options.context, options.source ?? "kubeconfig");
}

/** One kubeconfig file (`--kubeconfig`), at its current-context or the named one. */
export function loadKubeconfigFile(file: string, context?: string): KubeSettings {
  return loadKubeconfigFiles([file], context);
}

/**
 * Several kubeconfig files merged as kubectl merges $KUBECONFIG: the first
 * file to define a cluster, user or context by a name wins, and the first
 * current-context set wins.
 */
export function loadKubeconfigFiles(files: readonly string[], context?: string): KubeSettings {
  const merged = emptyMerge();
  for (const file of files) {
    const path = resolve(file);
    mergeInto(merged, parseFile(readFileSync(path, "utf8"), path), dirname(path));
  }
  return settingsOf(merged, context, files.join(delimiter));
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The pod's own service account, as client-go's rest.InClusterConfig. */
export function loadInCluster(
  options: { readonly env?: NodeJS.ProcessEnv; readonly serviceAccountDir?: string } = {},
): KubeSettings {
  const env = options.env ?? process.env;
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port)
    throw new KubeConfigError(
      "not in a cluster and no kubeconfig: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset (in a pod, Kubernetes sets them); elsewhere set KUBECONFIG",
    );
  const tokenFile = join(dir, "token");
  if (!existsSync(tokenFile))
    throw new KubeConfigError(
      `no service account token at ${tokenFile}: mount one (automountServiceAccountToken: true, as the chart does) or set KUBECONFIG`,
    );
  const namespaceFile = join(dir, "namespace");
  const namespace = existsSync(namespaceFile) ? readFileSync(namespaceFile, "utf8").trim() : "";
  // An IPv6 address needs brackets in a URL.
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return {
    server: `https://${hostPart}:${port}`,
    namespace: namespace || "default",
    ca: readFileSync(join(dir, "ca.crt")),
    insecureSkipTlsVerify: false,
    tokenFile,
    source: "in-cluster",
  };
}

/**
 * client-node's loadFromDefault: the files in $KUBECONFIG, else
 * ~/.kube/config if it exists, else the in-cluster service account.
 */
export function loadDefault(
  options: {
    readonly env?: NodeJS.ProcessEnv;
    readonly home?: string;
    readonly serviceAccountDir?: string;
  } = {},
): KubeSettings {
  const env = options.env ?? process.env;
  const files = (env.KUBECONFIG ?? "").split(delimiter).filter((f) => f !== "");
  if (files.length > 0) return loadKubeconfigFiles(files);
  const home = join(options.home ?? homedir(), ".kube", "config");
  if (existsSync(home)) return loadKubeconfigFile(home);
  return loadInCluster({
    env,
    ...(options.serviceAccountDir !== undefined && { serviceAccountDir: options.serviceAccountDir }),
  });
}

function parseFile(text: string, source: string): KubeconfigFile {
  const doc: unknown = parse(text);
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) throw new KubeConfigError(`${source}: not a kubeconfig`);
  return doc;
}

function emptyMerge(): Merged {
  return { clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: undefined };
}

function mergeInto(merged: Merged, file: KubeconfigFile, dir: string): void {
  for (const c of file.clusters ?? [])
    if (c.name && !merged.clusters.has(c.name)) merged.clusters.set(c.name, { entry: c, dir });
  for (const u of file.users ?? [])
    if (u.name && !merged.users.has(u.name)) merged.users.set(u.name, { entry: u, dir });
  for (const c of file.contexts ?? [])
    if (c.name && !merged.contexts.has(c.name)) merged.contexts.set(c.name, c);
  merged.currentContext ||= file["current-context"] ?? undefined;
}

function settingsOf(merged: Merged, wanted: string | undefined, source: string): KubeSettings {
  const contextName = wanted ?? merged.currentContext;
  if (!contextName) throw new KubeConfigError(`${source}: no current-context, and no context was named`);
  const context = merged.contexts.get(contextName)?.context;
  if (!context) throw new KubeConfigError(`${source}: no context named "${contextName}"`);
  const where = `${source} (context ${contextName})`;
  const located = context.cluster === undefined ? undefined : merged.clusters.get(context.cluster);
  const cluster = located?.entry.cluster;
  if (!located || !cluster?.server)
    throw new KubeConfigError(`${where}: cluster "${context.cluster ?? ""}" is missing or has no server`);
  if (cluster["proxy-url"])
    throw new KubeConfigError(
      `${where}: cluster "${context.cluster ?? ""}" uses proxy-url, not supported here`,
    );
  const tls = {
    ...optional(
      "ca",
      material(cluster["certificate-authority-data"], cluster["certificate-authority"], located.dir),
    ),
    insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"] === true,
    ...optional("tlsServerName", cluster["tls-server-name"] ?? undefined),
  };
  const user = context.user === undefined ? undefined : merged.users.get(context.user);
  return {
    server: cluster.server.replace(/\/+$/, ""),
    namespace: context.namespace || "default",
    ...tls,
    ...(user ? credentials(user, where) : {}),
    source: where,
  };
}

type Credentials = Pick<KubeSettings, "cert" | "key" | "token" | "tokenFile">;

function credentials({ entry, dir }: Located<NamedUser>, where: string): Credentials {
  const user = entry.user ?? {};
  const name = entry.name ?? "";
  const provider = user["auth-provider"];
  // client-node's own in-cluster config names its token file as an auth provider "tokenFile".
  const providerTokenFile = provider?.name === "tokenFile" ? provider.config?.tokenFile : undefined;
  if (user.exec || (provider && providerTokenFile === undefined)) {
    const what = user.exec ? "an exec credential plugin" : `the auth provider "${provider?.name ?? ""}"`;
    throw new KubeConfigError(
      `${where}: user "${name}" authenticates with ${what}, which the operator does not run; ` +
        "give it a token (token or tokenFile) or a client certificate (client-certificate and client-key)",
    );
  }
  if (user.username || user.password)
    throw new KubeConfigError(`${where}: user "${name}" uses basic auth, which Kubernetes no longer serves`);
  const cert = material(user["client-certificate-data"], user["client-certificate"], dir);
  const key = material(user["client-key-data"], user["client-key"], dir);
  if ((cert === undefined) !== (key === undefined))
    throw new KubeConfigError(`${where}: user "${name}" has a client certificate or key without the other`);
  const tokenFile = user.tokenFile ?? providerTokenFile;
  return {
    ...optional("cert", cert),
    ...optional("key", key),
    ...optional("token", user.token ?? undefined),
    ...optional("tokenFile", tokenFile ? resolve(dir, tokenFile) : undefined),
  };
}

// PEM from base64 `-data` (which wins, as in kubectl), or read from a file relative to the kubeconfig.
function material(
  data: string | null | undefined,
  file: string | null | undefined,
  dir: string,
): Buffer | undefined {
  if (data) return Buffer.from(data, "base64");
  if (file) return readFileSync(isAbsolute(file) ? file : resolve(dir, file));
  return undefined;
}

// `{ [key]: value }`, or nothing for undefined: exactOptionalPropertyTypes wants absent, not undefined.
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
