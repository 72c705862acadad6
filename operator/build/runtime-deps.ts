// Prunes an installed node_modules to what one entry point can load: the
// packages its import graph names, and everything those packages depend on
// (dependencies, optionalDependencies, installed peerDependencies), as npm
// resolved them. The image's deps stage runs it (Dockerfile), so the runtime
// image carries neither the CLI's packages (@kubernetes/client-node, the Safe
// kits) nor their trees. Whole packages go or stay: a package's own files are
// never second-guessed, apart from what Node cannot load from node_modules
// (TypeScript sources and declarations, source maps).
//
//   node operator/build/runtime-deps.ts <entry.js> <node_modules> [--dry-run]
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/** Bare specifiers ("viem/accounts", "@automerge/automerge") the files reachable from `entry` import. */
export function importedPackages(
  entry: string,
  read = (file: string) => readFileSync(file, "utf8"),
): string[] {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const queue = [resolve(entry)];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of specifiers(read(file))) {
      if (specifier.startsWith("node:")) continue;
      if (specifier.startsWith(".")) queue.push(resolve(dirname(file), specifier));
      else packages.add(packageName(specifier));
    }
  }
  return [...packages].sort();
}

/** The module specifiers of an ES module's static and dynamic imports and re-exports (string literals only). */
export function specifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.push(match[1] ?? "");
  return found.filter(Boolean);
}

/** "@scope/name/sub" → "@scope/name"; "name/sub" → "name". */
export function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return (specifier.startsWith("@") ? parts.slice(0, 2) : parts.slice(0, 1)).join("/");
}

interface Manifest {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/**
 * The package directories `roots` need under `modules`, resolved the way Node
 * does: from a package's own node_modules outwards. A root or a required
 * dependency that is not installed is an error (the image would fail at
 * start); a missing optional or peer dependency is not.
 */
export function runtimeClosure(modules: string, roots: readonly string[]): Set<string> {
  const keep = new Set<string>();
  const find = (from: string, name: string): string | undefined => {
    for (let dir = from; ; dir = dirname(dir)) {
      const candidate = join(dir, "node_modules", name);
      if (existsSync(join(candidate, "package.json"))) return candidate;
      if (resolve(dir) === resolve(dirname(modules)) || dirname(dir) === dir) return undefined;
    }
  };
  const visit = (dir: string): void => {
    if (keep.has(dir)) return;
    keep.add(dir);
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest;
    const required = Object.keys(manifest.dependencies ?? {});
    const optional = [
      ...Object.keys(manifest.optionalDependencies ?? {}),
      ...Object.keys(manifest.peerDependencies ?? {}),
    ];
    for (const name of required) {
      const found = find(dir, name);
      if (!found) throw new Error(`${relative(modules, dir)} depends on ${name}, which is not installed`);
      visit(found);
    }
    for (const name of optional) {
      const found = find(dir, name);
      if (found) visit(found);
    }
  };
  for (const root of roots) {
    const dir = join(modules, root);
    if (!existsSync(join(dir, "package.json")))
      throw new Error(`the entry point imports ${root}, which is not installed in ${modules}`);
    visit(dir);
  }
  return keep;
}

/** Every package directory under `modules`, nested ones included. */
export function installedPackages(modules: string): string[] {
  const out: string[] = [];
  const scan = (nodeModules: string): void => {
    if (!existsSync(nodeModules)) return;
    for (const name of readdirSync(nodeModules)) {
      if (name.startsWith(".")) continue;
      const dir = join(nodeModules, name);
      if (name.startsWith("@")) {
        for (const scoped of readdirSync(dir)) add(join(dir, scoped));
      } else add(dir);
    }
  };
  const add = (dir: string): void => {
    if (!existsSync(join(dir, "package.json"))) return;
    out.push(dir);
    scan(join(dir, "node_modules"));
  };
  scan(modules);
  return out;
}

/** Files Node never loads from node_modules: it refuses to strip types there, and maps are for debuggers. */
const UNLOADABLE = /(\.d\.[cm]?ts|(?<!\.d)\.[cm]?ts|\.tsx|\.map)$/;

function removeUnloadable(dir: string, nested: string): number {
  let bytes = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (path === nested) continue;
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) continue;
    if (stat.isDirectory()) bytes += removeUnloadable(path, nested);
    else if (UNLOADABLE.test(name)) {
      bytes += stat.size;
      rmSync(path);
    }
  }
  return bytes;
}

function size(path: string): number {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + size(join(path, name)), 0);
}

export interface Pruned {
  readonly roots: readonly string[];
  readonly kept: number;
  readonly removed: number;
  readonly removedBytes: number;
  readonly unloadableBytes: number;
}

/** Removes from `modules` what `entry` cannot load (nothing with `dryRun`). */
export function prune(entry: string, modules: string, dryRun = false): Pruned {
  const roots = importedPackages(entry);
  const keep = runtimeClosure(resolve(modules), roots);
  const drop = installedPackages(resolve(modules)).filter((dir) => !keep.has(dir));
  let removedBytes = 0;
  for (const dir of drop) {
    if (!existsSync(dir)) continue; // inside a package already removed
    removedBytes += size(dir);
    if (!dryRun) rmSync(dir, { recursive: true });
  }
  let unloadableBytes = 0;
  if (!dryRun) {
    for (const dir of keep) unloadableBytes += removeUnloadable(dir, join(dir, "node_modules"));
    rmSync(join(modules, ".bin"), { recursive: true, force: true });
    for (const name of readdirSync(modules))
      if (name.startsWith("@") && readdirSync(join(modules, name)).length === 0)
        rmSync(join(modules, name), { recursive: true });
  }
  return { roots, kept: keep.size, removed: drop.length, removedBytes, unloadableBytes };
}

if (import.meta.main) {
  const [entry, modules, flag] = process.argv.slice(2);
  if (!entry || !modules) {
    console.error("usage: node operator/build/runtime-deps.ts <entry.js> <node_modules> [--dry-run]");
    process.exit(2);
  }
  const pruned = prune(entry, modules, flag === "--dry-run");
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
  console.log(
    `${entry} imports ${pruned.roots.join(", ")}: kept ${String(pruned.kept)} packages, ` +
      `removed ${String(pruned.removed)} (${mb(pruned.removedBytes)}) and ${mb(pruned.unloadableBytes)} of types, sources and maps`,
  );
}
