// An earlier release of this repository, to run beside the current one: the
// operator's sources at a commit, extracted once into the test bed's cache
// (git archive, so no worktree is registered), with this checkout's
// node_modules when the lock files agree and its own `npm ci` when they do
// not. A region "upgrades" by stopping the operator started from there and
// starting this checkout's on the same state directory.
import { execFile } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, "../..");

/**
 * The release before this one: what a region runs before it upgrades in the
 * upgrade suite. Move it forward at each release (the CHANGELOG's previous
 * entry); a commit of main until the project tags its releases.
 */
export const PREVIOUS_RELEASE = "58363daa81fe5ef28edb5fc5b20e22f126dff561";

/** A directory holding `operator/` (and what it needs to run) as it was at `commit`. */
export async function releaseTree(commit: string = PREVIOUS_RELEASE): Promise<string> {
  const cache =
    process.env.DSC_TESTBED_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "dsc-testbed");
  const dir = join(cache, "releases", commit);
  if (existsSync(join(dir, ".complete"))) return linkModules(dir);
  try {
    await run("git", ["-C", repo, "cat-file", "-e", `${commit}^{commit}`]);
  } catch {
    throw new Error(
      `commit ${commit} (the previous release) is not in this clone: fetch the full history (git fetch --unshallow)`,
    );
  }
  const tmp = `${dir}.tmp-${String(process.pid)}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const archive = join(tmp, "release.tar");
  await run("git", [
    "-C",
    repo,
    "archive",
    "--format=tar",
    "-o",
    archive,
    commit,
    "operator",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "Dockerfile",
  ]);
  await run("tar", ["-xf", archive, "-C", tmp]);
  rmSync(archive);
  writeFileSync(join(tmp, ".complete"), `${commit}\n`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(cache, "releases"), { recursive: true });
  renameSync(tmp, dir);
  return linkModules(dir);
}

const sameLock = (dir: string): boolean =>
  readFileSync(join(dir, "package-lock.json"), "utf8") ===
  readFileSync(join(repo, "package-lock.json"), "utf8");

/**
 * With the same lock file, the release runs on this checkout's node_modules, linked anew each
 * time (checkouts move); with another, on its own from `npm ci`, made again if what is there
 * is a link or nothing (the lock file of this checkout changed since the cache was made).
 */
async function linkModules(dir: string): Promise<string> {
  const modules = join(dir, "node_modules");
  const linked = lstatSync(modules, { throwIfNoEntry: false });
  if (sameLock(dir)) {
    rmSync(modules, { recursive: true, force: true }); // a link is removed, not what it points to
    symlinkSync(join(repo, "node_modules"), modules);
  } else if (!linked || linked.isSymbolicLink()) {
    rmSync(modules, { recursive: true, force: true });
    await run("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund"], {
      cwd: dir,
      maxBuffer: 64 * 1024 * 1024,
    });
  }
  return dir;
}
