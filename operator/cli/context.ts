// What every dsc command starts from: a ConsortiumManifest file, the
// Federation it belongs to, and keys from files or the environment (never
// from the command line, where other users can read them in `ps`).
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { isHex, type Hex } from "viem";
import { parseDocument, type Document } from "yaml";
import { consortiumManifestSpec, type ConsortiumManifestSpec } from "../api/v1alpha1/consortium-manifest.ts";
import { federationSpec, type FederationSpec } from "../api/v1alpha1/federation.ts";
import { parse } from "../api/schema.ts";
import {
  bindManifest,
  federationBinding,
  manifestTypedData,
  type CanonicalManifest,
  type ManifestHashes,
  type ManifestTypedData,
} from "../core/manifest/digest.ts";

/** A usage mistake: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The cluster could not be read (dsc status and the like): printed without a stack trace, exit code 1. */
export class ClusterError extends Error {
  override name = "ClusterError";
}

interface Resource<S> {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly spec: S;
}

function readYaml(file: string, kind: string): Resource<unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0)
    throw new UsageError(`${file} is not valid YAML: ${doc.errors[0]?.message ?? ""}`);
  const value = doc.toJS() as Partial<Resource<unknown>> | null;
  if (value?.kind !== kind)
    throw new UsageError(`${file}: expected kind ${kind}, found ${String(value?.kind)}`);
  if (!value.metadata?.name) throw new UsageError(`${file}: metadata.name is required`);
  return value as Resource<unknown>;
}

export interface ManifestContext {
  readonly file: string;
  readonly namespace: string;
  readonly name: string;
  readonly spec: ConsortiumManifestSpec;
  readonly federationName: string;
  readonly federation: FederationSpec;
  readonly manifest: CanonicalManifest;
  readonly hashes: ManifestHashes;
  readonly typed: ManifestTypedData;
}

export function loadContext(manifestFile: string, federationFile: string | undefined): ManifestContext {
  if (!federationFile)
    throw new UsageError("--federation FILE is required: the Federation the manifest belongs to");
  const fed = readYaml(federationFile, "Federation");
  const federation = parse(federationSpec, fed.spec, "spec");
  const res = readYaml(manifestFile, "ConsortiumManifest");
  const spec = parse(consortiumManifestSpec, res.spec, "spec");
  const namespace = res.metadata?.namespace ?? "default";
  const name = res.metadata?.name ?? "";
  const { manifest, hashes } = bindManifest(
    federationBinding(fed.metadata?.name ?? "", federation),
    { namespace, name },
    spec,
  );
  return {
    file: manifestFile,
    namespace,
    name,
    spec,
    federationName: fed.metadata?.name ?? "",
    federation,
    manifest,
    hashes,
    typed: manifestTypedData(manifest),
  };
}

/** A private key from `--key-file` or the DSC_KEY environment variable. */
export function loadKey(keyFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Hex {
  const raw = keyFile ? readFileSync(keyFile, "utf8").trim() : env.DSC_KEY?.trim();
  if (!raw)
    throw new UsageError("no key: pass --key-file FILE or set DSC_KEY (a 0x-prefixed 32-byte private key)");
  const key = raw.startsWith("0x") ? raw : `0x${raw}`;
  if (!isHex(key) || key.length !== 66)
    throw new UsageError("the key must be 32 bytes of hex (64 hex digits, optionally 0x-prefixed)");
  return key;
}

/** The typed message as plain JSON (numbers for uint256 fields), as Safe{Wallet} and the service take it. */
export function typedDataJson(typed: ManifestTypedData): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(typed, (_key, value: unknown) => (typeof value === "bigint" ? Number(value) : value)),
  ) as Record<string, unknown>;
}

/** Edits the manifest file in place, keeping its comments and layout; the write is atomic. */
export function updateManifestFile(file: string, edit: (doc: Document) => void): void {
  const doc = parseDocument(readFileSync(file, "utf8"));
  edit(doc);
  const tmp = `${file}.${String(process.pid)}.tmp`;
  writeFileSync(tmp, doc.toString());
  renameSync(tmp, file);
}
