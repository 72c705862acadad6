// The image's node_modules pruning on a small installed tree: what the entry
// point's import graph names stays with everything it depends on (the
// version npm nested for it, not the hoisted one), everything else goes, and
// a dependency the entry needs but that is not installed stops the build.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { packageName, prune, specifiers } from "./runtime-deps.ts";

let dir = "";
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), "dsc-runtime-deps-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}
const pkg = (deps: Record<string, string> = {}, extra: object = {}) =>
  JSON.stringify({ version: "1.0.0", dependencies: deps, ...extra });

describe("specifiers and package names", () => {
  it("reads static, side-effect and dynamic imports and re-exports, as tsc emits them", () => {
    const source = [
      'import { a, b } from "viem";',
      'import * as A from "@automerge/automerge";',
      'import "./side.js";',
      'export { c } from "./c.js";',
      "export * from './d.js';",
      'const m = await import("viem/accounts");',
      "import {\n  x,\n  y,\n} from 'yaml';",
    ].join("\n");
    expect(specifiers(source).sort()).toEqual(
      ["./c.js", "./d.js", "./side.js", "@automerge/automerge", "viem", "viem/accounts", "yaml"].sort(),
    );
    expect(packageName("@automerge/automerge/slim")).toBe("@automerge/automerge");
    expect(packageName("viem/accounts")).toBe("viem");
  });
});

describe("prune", () => {
  it("keeps the entry's closure, nested versions included, and removes the rest", () => {
    const root = tree({
      "dist/main.js": 'import { a } from "a";\nimport "./lib.js";',
      "dist/lib.js": 'export { b } from "@s/b/sub";',
      "node_modules/a/package.json": pkg({ c: "^2" }, { optionalDependencies: { gone: "1" } }),
      "node_modules/a/index.js": "",
      "node_modules/a/index.d.ts": "",
      "node_modules/a/index.js.map": "",
      "node_modules/a/src/index.ts": "",
      "node_modules/a/LICENSE": "",
      "node_modules/a/node_modules/c/package.json": pkg(),
      "node_modules/c/package.json": pkg(),
      "node_modules/@s/b/package.json": pkg({ e: "1" }),
      "node_modules/e/package.json": pkg(),
      "node_modules/cli-only/package.json": pkg({ f: "1" }),
      "node_modules/f/package.json": pkg(),
      "node_modules/@k/client/package.json": pkg(),
      "node_modules/.bin/tool": "",
    });
    const modules = join(root, "node_modules");
    const pruned = prune(join(root, "dist/main.js"), modules);
    expect(pruned.roots).toEqual(["@s/b", "a"]);
    const has = (path: string) => existsSync(join(modules, path));
    for (const kept of ["a/index.js", "a/LICENSE", "a/node_modules/c/package.json", "@s/b", "e"])
      expect(has(kept), kept).toBe(true);
    for (const gone of [
      "c",
      "cli-only",
      "f",
      "@k",
      ".bin",
      "a/index.d.ts",
      "a/index.js.map",
      "a/src/index.ts",
    ])
      expect(has(gone), gone).toBe(false);
    expect(pruned).toMatchObject({ kept: 4, removed: 4 });
  });

  it("stops when the entry imports a package, or a kept package needs one, that is not installed", () => {
    const root = tree({
      "dist/main.js": 'import "a";',
      "node_modules/a/package.json": pkg({ missing: "1" }),
    });
    expect(() => prune(join(root, "dist/main.js"), join(root, "node_modules"), true)).toThrow(
      /a depends on missing, which is not installed/,
    );
    writeFileSync(join(root, "dist/main.js"), 'import "absent";');
    expect(() => prune(join(root, "dist/main.js"), join(root, "node_modules"), true)).toThrow(
      /imports absent, which is not installed/,
    );
  });
});
