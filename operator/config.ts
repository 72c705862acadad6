// The operator's configuration, from its environment. Every mistake names the
// variable and what it should hold; nothing starts half-configured.
import { randomBytes } from "node:crypto";
import { DEFAULT_SETTLE_MS } from "./manifests/reconciler.ts";
import { DEFAULT_REBASE_POLICY, type RebasePolicy } from "./replication/rebaser.ts";

export interface OperatorConfig {
  readonly kubeconfig: string | undefined;
  /** The operator's own namespace: the RPC Secret and the leader Lease live here. */
  readonly namespace: string;
  readonly federationName: string | undefined;
  readonly region: string | undefined;
  /**
   * Who this process is in the leader Lease: DSC_IDENTITY (the pod's name) and a suffix of its
   * own. A pod deleted by force comes back under its name while the old process may still run;
   * with the name alone the new one would resume the old one's lease at once, and two would
   * lead. (client-go's leader election adds a UUID for the same reason.)
   */
  readonly identity: string;
  readonly resyncMs: number;
  /** How long a version newly applied here waits, at most, for the other regions' outcomes before its status is written. */
  readonly statusSettleMs: number;
  readonly chainPollMs: number;
  readonly workers: number;
  readonly httpHost: string;
  readonly httpPort: number;
  readonly leaderElection: boolean;
  readonly installAdmissionPolicy: boolean;
  readonly logLevel: string;
  /** Ids (namespace/name) containing this are traced step by step (runtime/trace.ts). */
  readonly trace: string | undefined;
  /** Replication with the other regions; undefined when this operator runs alone. */
  readonly peers: PeerSettings | undefined;
}

export interface PeerSettings {
  readonly stateDir: string;
  readonly listenHost: string;
  readonly listenPort: number;
  /** host:port the other regions dial, recorded in the federation state. */
  readonly advertise: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly heartbeatMs: number;
  /** Whether decisions are logged as receipts (on unless DSC_LOG=false: the bench's side-by-side). */
  readonly log: boolean;
  /** A file holding the log key's seed (64 hex digits), e.g. from a Secret; else one is made in stateDir. */
  readonly logKeyFile: string | undefined;
  /** The disk this region gives its copy of each peer's log, at most (DSC_LOG_MIRROR_MAX_MB). */
  readonly mirrorMaxBytes: number;
  /**
   * When the federation state is rebased to drop its history (replication/rebaser.ts):
   * past DSC_STATE_REBASE_MB and twice its size after the last, at most once per DSC_STATE_REBASE_INTERVAL_S.
   */
  readonly rebase: RebasePolicy;
}

class ConfigError extends Error {
  override name = "ConfigError";
}

function number(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(
      `${name} must be a number from ${String(min)} to ${String(max)}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

export function loadConfig(env: NodeJS.ProcessEnv, host: string): OperatorConfig {
  return {
    kubeconfig: env.KUBECONFIG || undefined,
    namespace: env.DSC_NAMESPACE || "dsc-system",
    federationName: env.DSC_FEDERATION || undefined,
    region: env.DSC_REGION || undefined,
    identity: `${env.DSC_IDENTITY || `${host}-${String(process.pid)}`}_${randomBytes(4).toString("hex")}`,
    resyncMs: number(env, "DSC_RESYNC_SECONDS", 30, 0.1, 86_400) * 1000,
    statusSettleMs: number(env, "DSC_STATUS_SETTLE_MS", DEFAULT_SETTLE_MS, 0, 60_000),
    chainPollMs: number(env, "DSC_CHAIN_POLL_SECONDS", 5, 0.1, 3_600) * 1000,
    workers: number(env, "DSC_WORKERS", 2, 1, 64),
    httpHost: env.DSC_HTTP_HOST || "0.0.0.0",
    httpPort: number(env, "DSC_HTTP_PORT", 8080, 0, 65_535),
    leaderElection: flag(env, "DSC_LEADER_ELECTION", true),
    installAdmissionPolicy: flag(env, "DSC_ADMISSION_POLICY", true),
    logLevel: env.LOG_LEVEL || "info",
    trace: env.DSC_TRACE || undefined,
    peers: peerSettings(env),
  };
}

function peerSettings(env: NodeJS.ProcessEnv): PeerSettings | undefined {
  const certFile = env.DSC_PEER_CERT;
  const keyFile = env.DSC_PEER_KEY;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile)
    throw new ConfigError(
      "set both DSC_PEER_CERT and DSC_PEER_KEY (PEM files), or neither to run without peers",
    );
  const listen = env.DSC_PEER_LISTEN || "0.0.0.0:7443";
  const match = /^(.+):(\d{1,5})$/.exec(listen);
  if (!match) throw new ConfigError(`DSC_PEER_LISTEN must be host:port, got ${JSON.stringify(listen)}`);
  return {
    stateDir: env.DSC_STATE_DIR || "/var/lib/dsc",
    listenHost: match[1] ?? "0.0.0.0",
    listenPort: Number(match[2]),
    advertise: env.DSC_PEER_ADVERTISE || listen,
    certFile,
    keyFile,
    heartbeatMs: number(env, "DSC_HEARTBEAT_MS", 1000, 50, 60_000),
    log: flag(env, "DSC_LOG", true),
    logKeyFile: env.DSC_LOG_KEY_FILE || undefined,
    mirrorMaxBytes: number(env, "DSC_LOG_MIRROR_MAX_MB", 256, 1, 1_048_576) * 1024 * 1024,
    rebase: {
      minBytes:
        number(env, "DSC_STATE_REBASE_MB", DEFAULT_REBASE_POLICY.minBytes / 1024 / 1024, 0.01, 65_536) *
        1024 *
        1024,
      minIntervalMs:
        number(env, "DSC_STATE_REBASE_INTERVAL_S", DEFAULT_REBASE_POLICY.minIntervalMs / 1000, 1, 86_400) *
        1000,
    },
  };
}
