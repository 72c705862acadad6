// Compiles the project's contracts with solc-js (the compiler as WebAssembly,
// from npm: no network, no native binary). Loading and running solc takes
// seconds, so the output is cached outside the repository, keyed by everything
// that can change the bytecode; a cache hit never loads solc at all.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import type { Abi, Hex } from "viem";

export const CONTRACT_NAMES = ["AgentRegistry", "GuardianPause", "ManifestLens", "LogAnchor"] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];

export interface CompiledContract {
  readonly abi: Abi;
  readonly bytecode: Hex;
}
export type CompiledContracts = Record<ContractName, CompiledContract>;

const require = createRequire(import.meta.url);

// anvil 1.7 runs later forks too; cancun is the newest that every chain the
// federation might target is known to support.
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
} as const;

interface SolcDiagnostic {
  readonly severity: "error" | "warning" | "info";
  readonly formattedMessage: string;
  readonly sourceLocation?: { readonly file: string };
}
interface SolcOutput {
  readonly errors?: readonly SolcDiagnostic[];
  readonly contracts?: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>;
}
type ImportResult = { contents: string } | { error: string };
type SolcCompile = (input: string, callbacks: { import: (path: string) => ImportResult }) => string;

function packageDir(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}

/** The npm package's version is the compiler's, and reading it does not load the compiler. */
export function solcVersion(): string {
  return (require("solc/package.json") as { version: string }).version;
}

/** solc asks for "@scope/pkg/path.sol"; the file lives in that package under node_modules. */
function readImport(path: string): ImportResult {
  const parts = path.split("/");
  const nameLength = path.startsWith("@") ? 2 : 1;
  try {
    const dir = packageDir(parts.slice(0, nameLength).join("/"));
    return { contents: readFileSync(join(dir, ...parts.slice(nameLength)), "utf8") };
  } catch (err) {
    return { error: `cannot import ${path}: ${(err as Error).message}` };
  }
}

function readSources(): Record<string, { content: string }> {
  return Object.fromEntries(
    CONTRACT_NAMES.map((name) => [
      `${name}.sol`,
      { content: readFileSync(join(import.meta.dirname, `${name}.sol`), "utf8") },
    ]),
  );
}

function cacheFile(sources: Record<string, { content: string }>): string {
  const key = createHash("sha256")
    .update(
      JSON.stringify({
        solc: solcVersion(),
        openzeppelin: (require("@openzeppelin/contracts/package.json") as { version: string }).version,
        settings: SETTINGS,
        sources,
      }),
    )
    .digest("hex");
  const root = process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache");
  return join(root, "dsc-testbed", `contracts-${key}.json`);
}

function readCache(file: string): CompiledContracts | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as CompiledContracts;
  } catch {
    return undefined;
  }
}

function writeCache(file: string, compiled: CompiledContracts): void {
  mkdirSync(dirname(file), { recursive: true });
  // Rename is atomic: a concurrent reader sees the old file or the whole new one.
  const tmp = `${file}.${String(process.pid)}.tmp`;
  writeFileSync(tmp, JSON.stringify(compiled));
  renameSync(tmp, file);
}

async function runSolc(sources: Record<string, { content: string }>): Promise<CompiledContracts> {
  const { default: solc } = await import("solc");
  const compile = solc.compile as SolcCompile;
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(compile(JSON.stringify(input), { import: readImport })) as SolcOutput;
  // Warnings in OpenZeppelin are theirs to fix; warnings in our sources fail the build.
  const fatal = (output.errors ?? []).filter(
    (d) =>
      d.severity === "error" ||
      (d.severity === "warning" && d.sourceLocation?.file !== undefined && d.sourceLocation.file in sources),
  );
  if (fatal.length > 0)
    throw new Error(`solc ${solcVersion()}:\n${fatal.map((d) => d.formattedMessage).join("\n")}`);

  const pick = (name: ContractName): CompiledContract => {
    const contract = output.contracts?.[`${name}.sol`]?.[name];
    if (!contract) throw new Error(`solc produced no output for ${name}`);
    return { abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` };
  };
  return Object.fromEntries(CONTRACT_NAMES.map((name) => [name, pick(name)])) as CompiledContracts;
}

/** ABI and creation bytecode of each contract, from the cache when the inputs are unchanged. */
export async function compileContracts(options: { cache?: boolean } = {}): Promise<CompiledContracts> {
  const sources = readSources();
  const file = cacheFile(sources);
  const cached = options.cache === false ? undefined : readCache(file);
  if (cached) return cached;
  const compiled = await runSolc(sources);
  writeCache(file, compiled);
  return compiled;
}
