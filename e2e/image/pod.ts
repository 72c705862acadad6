// The chart's operator pod run as a Docker container, as a kubelet would run
// it: the image's own ENTRYPOINT and flags; the user, read-only root
// filesystem, dropped capabilities and no-new-privileges of the rendered
// securityContext; the environment with its fieldRefs filled in; emptyDirs as
// tmpfs; the Secret volumes as read-only files owned by the fsGroup; and the
// ServiceAccount's token, CA and namespace where a pod finds them, with
// KUBERNETES_SERVICE_HOST and _PORT, so the operator takes the in-cluster
// path. One difference, said where it is made: the container shares the
// host's network (the test bed's API servers listen on loopback only), so the
// operator's ports are moved to free ones through its environment.
import { execFile, spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Container, StatefulSet } from "../chart/rendered.ts";

const run = promisify(execFile);
export const docker = (args: readonly string[]) =>
  run(process.env.DOCKER ?? "docker", args, { maxBuffer: 64 * 1024 * 1024 });

export interface PodRun {
  readonly image: string;
  /** The container's name, and the pod's (metadata.name). */
  readonly name: string;
  readonly namespace: string;
  readonly apiServer: { readonly host: string; readonly port: number; readonly caPem: string };
  readonly token: string;
  /** Content of each Secret volume, by volume name: file name → text. */
  readonly secrets: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Replaces or adds environment variables (the moved ports). */
  readonly env: Readonly<Record<string, string>>;
  /** A directory on this machine for the mounted files. */
  readonly workDir: string;
}

interface SecurityContext {
  readonly runAsUser?: number;
  readonly runAsGroup?: number;
  readonly runAsNonRoot?: boolean;
  readonly fsGroup?: number;
  readonly readOnlyRootFilesystem?: boolean;
  readonly allowPrivilegeEscalation?: boolean;
  readonly capabilities?: { readonly drop?: readonly string[]; readonly add?: readonly string[] };
  readonly seccompProfile?: { readonly type?: string };
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** `docker run` arguments for the StatefulSet's first container (no image command: its ENTRYPOINT runs). */
export function containerArgs(statefulSet: StatefulSet, pod: PodRun): string[] {
  const spec = statefulSet.spec.template.spec;
  const container: Container | undefined = spec.containers[0];
  if (!container) throw new Error("the StatefulSet has no container");
  const podContext = spec.securityContext as SecurityContext;
  const context = { ...podContext, ...(container.securityContext as SecurityContext) };
  const uid = context.runAsUser;
  const gid = context.runAsGroup ?? uid;
  const fsGroup = podContext.fsGroup ?? gid ?? 0;
  if (uid === undefined) throw new Error("the pod sets no runAsUser: the image's user would run");
  if (context.seccompProfile?.type && context.seccompProfile.type !== "RuntimeDefault")
    throw new Error(`seccompProfile ${context.seccompProfile.type} is not translated`);
  const args = ["run", "--detach", "--name", pod.name, "--hostname", pod.name, "--network", "host"];
  args.push("--user", `${String(uid)}:${String(gid ?? uid)}`, "--group-add", String(fsGroup));
  if (context.readOnlyRootFilesystem) args.push("--read-only");
  if (context.allowPrivilegeEscalation === false) args.push("--security-opt", "no-new-privileges");
  for (const cap of context.capabilities?.drop ?? []) args.push("--cap-drop", cap);
  for (const cap of context.capabilities?.add ?? []) args.push("--cap-add", cap);

  const env = new Map<string, string>();
  for (const variable of container.env) {
    const field = (variable.valueFrom as { fieldRef?: { fieldPath?: string } } | undefined)?.fieldRef
      ?.fieldPath;
    if (variable.value !== undefined) env.set(variable.name, variable.value);
    else if (field === "metadata.name") env.set(variable.name, pod.name);
    else if (field === "metadata.namespace") env.set(variable.name, pod.namespace);
    else
      throw new Error(`${variable.name}: valueFrom ${JSON.stringify(variable.valueFrom)} is not translated`);
  }
  env.set("KUBERNETES_SERVICE_HOST", pod.apiServer.host);
  env.set("KUBERNETES_SERVICE_PORT", String(pod.apiServer.port));
  for (const [name, value] of Object.entries(pod.env)) env.set(name, value);
  for (const [name, value] of env) args.push("--env", `${name}=${value}`);

  const files = (dir: string, content: Readonly<Record<string, string>>, mode: number): string => {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const [name, text] of Object.entries(content)) {
      const file = join(dir, name);
      writeFileSync(file, text, { mode });
      chownSync(file, 0, fsGroup);
    }
    return dir;
  };
  const serviceAccount = files(
    join(pod.workDir, "serviceaccount"),
    { token: pod.token, "ca.crt": pod.apiServer.caPem, namespace: pod.namespace },
    0o440,
  );
  args.push("--volume", `${serviceAccount}:${SERVICE_ACCOUNT_DIR}:ro`);
  for (const mount of container.volumeMounts) {
    const volume = spec.volumes.find((v) => v.name === mount.name);
    if (volume?.emptyDir !== undefined) {
      const sizeLimit = volume.emptyDir?.sizeLimit;
      const size = sizeLimit ? `,size=${sizeLimit.replace(/i$/, "").toLowerCase()}` : "";
      args.push("--tmpfs", `${mount.mountPath}:rw,mode=1777,uid=0,gid=${String(fsGroup)}${size}`);
    } else if (volume?.secret) {
      const content = pod.secrets[mount.name];
      if (!content) throw new Error(`no content given for the Secret volume ${mount.name}`);
      const mode = volume.secret.defaultMode ?? 0o644;
      args.push("--volume", `${files(join(pod.workDir, mount.name), content, mode)}:${mount.mountPath}:ro`);
    } else if (statefulSet.spec.volumeClaimTemplates?.some((claim) => claim.metadata.name === mount.name)) {
      // A PersistentVolumeClaim's volume: a directory of this machine, group-owned by the fsGroup.
      const dir = join(pod.workDir, mount.name);
      mkdirSync(dir, { recursive: true });
      chownSync(dir, 0, fsGroup);
      chmodSync(dir, 0o2775);
      args.push("--volume", `${dir}:${mount.mountPath}`);
    } else {
      throw new Error(`volume ${mount.name} (${JSON.stringify(volume)}) is not translated`);
    }
  }
  args.push(pod.image);
  return args;
}

/** The image's configured user and whether it is numeric and not root (what runAsNonRoot checks). */
export async function imageUser(image: string): Promise<string> {
  const { stdout } = await docker(["image", "inspect", "-f", "{{.Config.User}}", image]);
  return stdout.trim();
}

/** Whether a Docker daemon answers. */
export const dockerAvailable = (): Promise<boolean> =>
  docker(["info", "--format", "{{.ServerVersion}}"]).then(
    () => true,
    () => false,
  );

/** The container's output so far (the operator logs to stdout, a failed start to stderr). */
export function containerLogs(name: string): string {
  const { stdout, stderr } = spawnSync(process.env.DOCKER ?? "docker", ["logs", name], { encoding: "utf8" });
  return `${stdout}${stderr}`;
}
