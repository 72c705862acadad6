#!/usr/bin/env node
// dsc: the signer's and agent's command line. Same code paths as the operator:
// the digest, the signatures and the verification are the operator's own.
//   dsc digest  FILE --federation FED            what a signer approves
//   dsc sign    FILE --federation FED (--dsp-safe ADDR | --board) [--eth-sign] [--write] [--safe-service URL]
//   dsc propose FILE --federation FED [--write]  the agent's proposal signature
//   dsc verify  FILE --federation FED --rpc URL [--safe-service URL]
// Keys come from --key-file FILE or the DSC_KEY environment variable.
import { parseArgs } from "node:util";
import { getAddress, isAddress, type Address } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { ValidationError } from "../api/schema.ts";
import { ChainReader, ChainUnavailableError } from "../chain/reader.ts";
import { SafeApiKit } from "../safe/sdk.ts";
import { SafeService } from "../safe/service.ts";
import { signAsBoardOwner, signAsDspOwner, signProposal } from "../signing/sign.ts";
import { verifyManifest } from "../verification/verify.ts";
import {
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
  dsc verify  FILE --federation FED --rpc URL [--safe-service URL] [--json]
keys: --key-file FILE, or the DSC_KEY environment variable`;

const OPTIONS = {
  federation: { type: "string" },
  "key-file": { type: "string" },
  "dsp-safe": { type: "string" },
  board: { type: "boolean" },
  "eth-sign": { type: "boolean" },
  write: { type: "boolean" },
  "safe-service": { type: "string" },
  rpc: { type: "string" },
  json: { type: "boolean" },
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

/** Posts one signature: the first creates the Safe message, later ones confirm it. */
async function postToService(
  ctx: ManifestContext,
  url: string,
  entry: { safe: "consortium" | "board"; data: string },
  out: Out,
): Promise<void> {
  const kit = new SafeApiKit({ chainId: BigInt(ctx.federation.chain.chainId), txServiceUrl: url });
  const safe: Address = getAddress(
    entry.safe === "consortium" ? ctx.federation.consortiumSafe : ctx.federation.daoBoardSafe,
  );
  const hash = entry.safe === "consortium" ? ctx.hashes.consortiumMessageHash : ctx.hashes.boardMessageHash;
  const existing = await new SafeService(url, ctx.federation.chain.chainId).confirmations(hash);
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
      service: serviceUrl ? new SafeService(serviceUrl, ctx.federation.chain.chainId) : undefined,
      federationName: ctx.federationName,
      federation: ctx.federation,
      now: Date.now,
    },
    { namespace: ctx.namespace, name: ctx.name, spec: ctx.spec, appliedNonce: undefined },
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

if (import.meta.main) {
  try {
    process.exitCode = await run(process.argv.slice(2));
  } catch (error) {
    if (
      error instanceof UsageError ||
      error instanceof ValidationError ||
      error instanceof ChainUnavailableError
    ) {
      console.error(`dsc: ${error.message}`);
      process.exitCode = error instanceof ChainUnavailableError ? 1 : 2;
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
