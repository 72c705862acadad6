#!/usr/bin/env node
// dsc: the signer's and agent's command line, and an SRE's view of a cluster.
// Same code paths as the operator: the digest, the signatures and the
// verification are the operator's own.
//   dsc digest  FILE --federation FED            what a signer approves
//   dsc sign    FILE --federation FED (--dsp-safe ADDR | --board) [--eth-sign] [--write] [--safe-service URL]
//   dsc propose FILE --federation FED [--write]  the agent's proposal signature
//   dsc verify  FILE --federation FED --rpc URL [--safe-service URL] [--operator-namespace NS]
//   dsc breach  --federation FED --scope S --severity SEV --evidence E   an agent's signed breach report
//   dsc log checkpoint | get | prove | verify   a region's decision log, from outside (log.ts)
//   dsc version [--json]                         this release
//   dsc status | approvals NAME [-n NS] | pause-history   read the cluster (cluster.ts);
//                                                          also `kubectl dsc ...` (bin/kubectl-dsc)
// Keys come from --key-file FILE or the DSC_KEY environment variable; the
// hosted Safe Transaction Service's API key from DSC_SAFE_API_KEY.
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { getAddress, isAddress, keccak256, toBytes, type Address } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { parse as parseYaml, stringify } from "yaml";
import { parse, ValidationError } from "../api/schema.ts";
import { breachReport } from "../api/v1alpha1/breach-report.ts";
import { API_VERSION } from "../api/v1alpha1/fields.ts";
import { ChainReader, ChainUnavailableError } from "../chain/reader.ts";
import {
  breachHash,
  observedSeconds,
  signBreachReport,
  type BreachDomain,
  type BreachReport,
} from "../core/breach/report.ts";
import { metaTime } from "../runtime/time.ts";
import { SafeApiKit } from "../safe/sdk.ts";
import { SafeService } from "../safe/service.ts";
import { signAsBoardOwner, signAsDspOwner, signProposal } from "../signing/sign.ts";
import { verifyManifest } from "../verification/verify.ts";
import { VERSION } from "../version.ts";
import type { ClusterCommand } from "./cluster.ts";
import { LOG_USAGE, logCommand } from "./log.ts";
import {
  ClusterError,
  loadContext,
  loadKey,
  typedDataJson,
  updateManifestFile,
  UsageError,
  type ManifestContext,
} from "./context.ts";

const USAGE = `usage:
  dsc digest  FILE --federation FED [--json]
  dsc sign    FILE --federation FED (--dsp-safe ADDRESS | --board) [--eth-sign] [--write] [--safe-service URL]
  dsc propose FILE --federation FED [--write]
  dsc verify  FILE --federation FED --rpc URL [--safe-service URL] [--operator-namespace NS] [--json]
  dsc breach  --federation (NAME --chain-id N --guardian-pause ADDRESS | FILE.yaml)
              --scope SCOPE --severity (warning | critical) --evidence (TEXT | 0xHASH) [--observed-at TIME] [--json]
  dsc version [--json]
keys: --key-file FILE, or the DSC_KEY environment variable
the hosted Safe Transaction Service (https://api.safe.global/tx-service/<chain>/api) asks for an
API key (https://developer.safe.global): set DSC_SAFE_API_KEY; a service of your own may need none

a region's decision log (read over HTTP, proven offline; no cluster access needed):
${LOG_USAGE}

reading the cluster (the current kubeconfig context; also as kubectl dsc ...):
  dsc status        [--federation NAME] [--json]      region, peers, chain, document, guardian pause
  dsc approvals     NAME [-n NAMESPACE] [--json]      a ConsortiumManifest's approvals and regions
  dsc pause-history [--federation NAME] [--json]      pauses in force and lifted, refused reports
  cluster: --kubeconfig FILE, --context NAME (default: KUBECONFIG or ~/.kube/config)`;

const OPTIONS = {
  federation: { type: "string" },
  "key-file": { type: "string" },
  "dsp-safe": { type: "string" },
  board: { type: "boolean" },
  "eth-sign": { type: "boolean" },
  write: { type: "boolean" },
  "safe-service": { type: "string" },
  rpc: { type: "string" },
  "operator-namespace": { type: "string" },
  json: { type: "boolean" },
  scope: { type: "string" },
  severity: { type: "string" },
  evidence: { type: "string" },
  "chain-id": { type: "string" },
  "guardian-pause": { type: "string" },
  "observed-at": { type: "string" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  namespace: { type: "string", short: "n" },
  url: { type: "string" },
  vkey: { type: "string" },
  witness: { type: "string", multiple: true },
  quorum: { type: "string" },
  output: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];
type Out = (line: string) => void;

export async function run(argv: readonly string[], out: Out = console.log): Promise<number> {
  const { values: flags, positionals } = parseArgs({
    args: [...argv],
    options: OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  const [command, file, ...extra] = positionals;
  if (flags.help || !command) {
    out(USAGE);
    return command || flags.help ? 0 : 2;
  }
  if (command === "version") {
    out(
      flags.json
        ? JSON.stringify({ version: VERSION, node: process.version })
        : `dsc ${VERSION} (Node.js ${process.version})`,
    );
    return 0;
  }
  if (command === "breach") return breach(flags, positionals.slice(1), out);
  if (command === "log") return logCommand(positionals.slice(1), flags, out);
  if (isClusterCommand(command)) {
    // Loaded on demand: the Kubernetes client is not needed to sign or verify.
    const { clusterCommand } = await import("./cluster.ts");
    return clusterCommand(command, positionals.slice(1), flags, out);
  }
  if (!file) throw new UsageError(`dsc ${command} needs a ConsortiumManifest FILE`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
  const ctx = loadContext(file, flags.federation);
  switch (command) {
    case "digest":
      return digest(ctx, flags, out);
    case "sign":
      return sign(ctx, flags, out);
    case "propose":
      return propose(ctx, flags, out);
    case "verify":
      return verify(ctx, flags, out);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
  }
}

const CLUSTER_COMMANDS: readonly string[] = [
  "status",
  "approvals",
  "pause-history",
] satisfies ClusterCommand[];
const isClusterCommand = (command: string): command is ClusterCommand => CLUSTER_COMMANDS.includes(command);

function digest(ctx: ManifestContext, flags: Flags, out: Out): number {
  const { manifest, hashes } = ctx;
  if (flags.json) {
    out(JSON.stringify({ ...hashes, typedData: typedDataJson(ctx.typed) }, null, 2));
    return 0;
  }
  out(
    `manifest      ${manifest.manifest} in federation ${manifest.federation} (chain ${String(manifest.chainId)})`,
  );
  out(`action        ${manifest.action}, tier ${manifest.tier}, targets ${manifest.targets.join(", ")}`);
  out(
    `nonce         ${String(manifest.nonce)}, expires ${new Date(manifest.expiresAt * 1000).toISOString()}`,
  );
  out(
    `objects       ${manifest.objects.map((o) => `${String(o.kind)}/${String((o.metadata as { name?: string } | undefined)?.name)}`).join(", ")}`,
  );
  out(`digest        ${hashes.digest}`);
  out(`typed data    ${hashes.dataHash}`);
  out(`consortium    Safe message hash ${hashes.consortiumMessageHash}`);
  out(`DAO Board     Safe message hash ${hashes.boardMessageHash}`);
  out("typed message (what Safe{Wallet} shows the signer):");
  out(JSON.stringify(typedDataJson(ctx.typed), null, 2));
  return 0;
}

async function sign(ctx: ManifestContext, flags: Flags, out: Out): Promise<number> {
  const key = loadKey(flags["key-file"]);
  const scheme = flags["eth-sign"] ? "eth_sign" : "ecdsa";
  if (Boolean(flags.board) === Boolean(flags["dsp-safe"])) {
    throw new UsageError(
      "say whose approval this is: --dsp-safe ADDRESS (an owner of that DSP Safe signs) or --board",
    );
  }
  let entry: { safe: "consortium" | "board"; data: string };
  if (flags.board) {
    entry = { safe: "board", data: await signAsBoardOwner(key, ctx.hashes, scheme) };
  } else {
    const dspSafe = flags["dsp-safe"] ?? "";
    if (!isAddress(dspSafe)) throw new UsageError(`--dsp-safe: ${JSON.stringify(dspSafe)} is not an address`);
    entry = {
      safe: "consortium",
      data: await signAsDspOwner(key, getAddress(dspSafe), ctx.federation.chain.chainId, ctx.hashes, scheme),
    };
  }
  if (flags.write) {
    updateManifestFile(ctx.file, (doc) => {
      if (!doc.hasIn(["spec", "signatures"])) doc.setIn(["spec", "signatures"], []);
      doc.addIn(["spec", "signatures"], entry);
    });
    out(`added a ${entry.safe} signature to ${ctx.file}`);
  } else {
    out(`- safe: ${entry.safe}\n  data: "${entry.data}"`);
  }
  if (flags["safe-service"]) await postToService(ctx, flags["safe-service"], entry, out);
  return 0;
}

/** DSC_SAFE_API_KEY, for the hosted Safe Transaction Service; unset or blank is none. */
const serviceApiKey = (): string | undefined => process.env.DSC_SAFE_API_KEY?.trim() || undefined;

const safeService = (url: string, chainId: number): SafeService => {
  const apiKey = serviceApiKey();
  return new SafeService(url, chainId, apiKey !== undefined ? { apiKey } : {});
};

/** Posts one signature: the first creates the Safe message, later ones confirm it. */
async function postToService(
  ctx: ManifestContext,
  url: string,
  entry: { safe: "consortium" | "board"; data: string },
  out: Out,
): Promise<void> {
  const apiKey = serviceApiKey();
  const kit = new SafeApiKit({
    chainId: BigInt(ctx.federation.chain.chainId),
    txServiceUrl: url,
    ...(apiKey !== undefined ? { apiKey } : {}),
  });
  const safe: Address = getAddress(
    entry.safe === "consortium" ? ctx.federation.consortiumSafe : ctx.federation.daoBoardSafe,
  );
  const hash = entry.safe === "consortium" ? ctx.hashes.consortiumMessageHash : ctx.hashes.boardMessageHash;
  const existing = await safeService(url, ctx.federation.chain.chainId).confirmations(hash);
  if (existing.ok && existing.confirmations.length > 0) {
    await kit.addMessageSignature(hash, entry.data);
  } else {
    await kit.addMessage(safe, { message: typedDataJson(ctx.typed) as never, signature: entry.data });
  }
  out(`posted to ${url} as a confirmation of ${hash}`);
}

async function propose(ctx: ManifestContext, flags: Flags, out: Out): Promise<number> {
  const key = loadKey(flags["key-file"]);
  const agent = privateKeyToAccount(key).address;
  const signature = await signProposal(key, ctx.typed);
  if (flags.write) {
    updateManifestFile(ctx.file, (doc) => {
      doc.setIn(["spec", "proposal"], { agent, signature });
    });
    out(`proposed ${ctx.manifest.manifest} as agent ${agent} in ${ctx.file}`);
  } else {
    out(`proposal:\n  agent: "${agent}"\n  signature: "${signature}"`);
  }
  return 0;
}

async function verify(ctx: ManifestContext, flags: Flags, out: Out): Promise<number> {
  if (!flags.rpc) throw new UsageError("--rpc URL is required: verification reads the chain");
  const chain = new ChainReader({ rpcUrl: flags.rpc, chainId: ctx.federation.chain.chainId });
  const serviceUrl = flags["safe-service"] ?? ctx.federation.safeTransactionService?.url;
  const report = await verifyManifest(
    {
      chain,
      service: serviceUrl ? safeService(serviceUrl, ctx.federation.chain.chainId) : undefined,
      federationName: ctx.federationName,
      federation: ctx.federation,
      // What is in the operator's namespace takes the critical tier: judge as the region would.
      operatorNamespace: flags["operator-namespace"] ?? "dsc-system",
      // A diagnosis shows every source, however long the service takes to answer.
      waitForService: true,
    },
    { namespace: ctx.namespace, name: ctx.name, spec: ctx.spec, applied: undefined },
  );
  if (flags.json) {
    out(JSON.stringify(report, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2));
    return report.decision.verified ? 0 : 1;
  }
  out(
    `${ctx.manifest.manifest}: ${report.decision.reason} (${report.decision.summary}) at block ${report.block.toString()}`,
  );
  out(`  ${report.decision.message}`);
  out(
    `proposer ${report.proposer.agent}: ${report.proposer.valid ? `valid, agent of DSP ${report.proposer.dsp ?? "?"}` : `refused: ${report.proposer.reason ?? ""}`}`,
  );
  out("approvals:");
  if (report.verdicts.length === 0) out("  (none found)");
  for (const v of report.verdicts) {
    const who = v.signer ?? "(unknown signer)";
    out(
      `  ${v.valid ? "counts " : "refused"}  ${v.safe.padEnd(10)} ${who}  ${v.kind.padEnd(13)} from ${v.source}${v.reason ? `: ${v.reason}` : ""}`,
    );
  }
  if (report.serviceError) out(`note: ${report.serviceError} (other sources were still read)`);
  return report.decision.verified ? 0 : 1;
}

/**
 * The agent's signed breach report: a BreachReport manifest for kubectl, or
 * with --json the body the operator's HTTP endpoint takes.
 */
async function breach(flags: Flags, extra: readonly string[], out: Out): Promise<number> {
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
  const { scope, severity, evidence } = flags;
  if (!scope || !severity || !evidence)
    throw new UsageError("--scope, --severity (warning or critical) and --evidence are required");
  const domain = breachDomain(flags);
  const key = loadKey(flags["key-file"]);
  const observedAt = flags["observed-at"] ?? metaTime(new Date());
  const fields = {
    agent: privateKeyToAccount(key).address,
    scope,
    severity,
    // A 32-byte hash is taken as the evidence's hash; anything else is the evidence itself.
    evidenceHash: /^0x[0-9a-fA-F]{64}$/.test(evidence) ? evidence : keccak256(toBytes(evidence)),
    observedAt,
  };
  let report: BreachReport;
  try {
    report = parse(breachReport, fields, "spec") as BreachReport;
    observedSeconds(observedAt);
  } catch (error) {
    const flag = { evidenceHash: "evidence", observedAt: "observed-at" } as Record<string, string>;
    throw new UsageError(
      (error as Error).message.replace(/spec\.(\w+)/g, (_m, field: string) => `--${flag[field] ?? field}`),
    );
  }
  const signature = await signBreachReport(domain, report, key);
  if (flags.json) {
    out(JSON.stringify({ report, signature }, null, 2));
    return 0;
  }
  const hash = breachHash(domain, report);
  const resource = {
    apiVersion: API_VERSION,
    kind: "BreachReport",
    metadata: { name: `breach-${hash.slice(2, 14)}` },
    spec: { ...report, signature },
  };
  out(`# breach report ${hash} in federation ${domain.federation} (chain ${String(domain.chainId)})`);
  // Quoted, so that no YAML reader takes the time for a timestamp or a hash for a number.
  out(
    stringify(resource, {
      lineWidth: 0,
      defaultStringType: "QUOTE_DOUBLE",
      defaultKeyType: "PLAIN",
    }).trimEnd(),
  );
  return 0;
}

/** The report's domain: from --chain-id and --guardian-pause, or read from a Federation FILE (*.yaml). */
function breachDomain(flags: Flags): BreachDomain {
  const name = flags.federation;
  if (!name) throw new UsageError("--federation is required: the federation's name, or its Federation FILE");
  let federation = name;
  let chainId = flags["chain-id"];
  let guardianPause = flags["guardian-pause"];
  if (/\.ya?ml$/.test(name)) {
    if (!existsSync(name)) throw new UsageError(`cannot read ${name}: no such file`);
    const fed = parseYaml(readFileSync(name, "utf8")) as {
      kind?: unknown;
      metadata?: { name?: unknown };
      spec?: { chain?: { chainId?: number }; guardian?: { pauseContract?: string } };
    } | null;
    if (fed?.kind !== "Federation" || typeof fed.metadata?.name !== "string")
      throw new UsageError(`${name}: expected a Federation with metadata.name`);
    federation = fed.metadata.name;
    const { chain, guardian } = fed.spec ?? {};
    if (chain?.chainId !== undefined) chainId ??= String(chain.chainId);
    if (guardian?.pauseContract !== undefined) guardianPause ??= guardian.pauseContract;
  }
  if (!chainId || !guardianPause)
    throw new UsageError(
      "--chain-id N and --guardian-pause ADDRESS are required, unless --federation names a Federation FILE with spec.chain.chainId and spec.guardian.pauseContract",
    );
  if (!/^[1-9]\d{0,15}$/.test(chainId))
    throw new UsageError(`--chain-id: ${JSON.stringify(chainId)} is not a chain id`);
  if (!isAddress(guardianPause, { strict: false }))
    throw new UsageError(`--guardian-pause: ${JSON.stringify(guardianPause)} is not an address`);
  return { federation, chainId: Number(chainId), guardianPause: getAddress(guardianPause) };
}

if (import.meta.main) {
  try {
    process.exitCode = await run(process.argv.slice(2));
  } catch (error) {
    if (
      error instanceof UsageError ||
      error instanceof ValidationError ||
      error instanceof ChainUnavailableError ||
      error instanceof ClusterError
    ) {
      console.error(`dsc: ${error.message}`);
      process.exitCode = error instanceof ChainUnavailableError || error instanceof ClusterError ? 1 : 2;
    } else if (
      error instanceof TypeError &&
      (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      console.error(`dsc: ${error.message}\n${USAGE}`);
      process.exitCode = 2;
    } else {
      throw error;
    }
  }
}
