// Durable writes for the tile log: a file is fsynced before it gets its
// name, and the directory holding the name is fsynced after; directories
// made on the way are made durable too. The log's promise (never sign two
// inconsistent checkpoints, even after kill -9 at any line) rests on this:
// a checkpoint is written only after every tile it covers is durable.
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fsyncDir, TEMP_SUFFIX, writeAll } from "../state/files.ts";

/** The file operations the log uses; tests wrap them to crash at any one. */
export interface LogFiles {
  /** Writes `root/path` durably, replacing any file there. */
  write(path: string, bytes: Uint8Array): Promise<void>;
  /** Appends to `root/path` (made if missing) and makes the bytes durable (one fdatasync). */
  append(path: string, bytes: Uint8Array): Promise<void>;
  /** The bytes of `root/path`, or undefined if there is none. */
  read(path: string): Promise<Uint8Array | undefined>;
  /** The names in `root/dir` (none if it does not exist). */
  list(dir: string): Promise<string[]>;
  /** Removes `root/path` durably (nothing if there is none). */
  remove(path: string): Promise<void>;
}

export function diskFiles(root: string): LogFiles {
  return {
    async write(path, bytes) {
      const target = join(root, path);
      const dir = dirname(target);
      const made = await mkdir(dir, { recursive: true });
      const temp = target + TEMP_SUFFIX;
      const handle = await open(temp, "w");
      try {
        await writeAll(handle, bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, target);
      await fsyncDir(dir);
      // A new directory's own name lives in its parent: fsync each parent up to the first made.
      if (made !== undefined) {
        for (let d = dir; ; d = dirname(d)) {
          await fsyncDir(dirname(d));
          if (d === made || dirname(d) === d) break;
        }
      }
    },
    async append(path, bytes) {
      const target = join(root, path);
      const made = await mkdir(dirname(target), { recursive: true });
      const handle = await open(target, "a");
      let created;
      try {
        created = (await handle.stat()).size === 0;
        await writeAll(handle, bytes);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      // A new file's name is durable only once its directory is.
      if (created || made !== undefined) await fsyncDir(dirname(target));
    },
    async list(dir) {
      try {
        return await readdir(join(root, dir));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
        throw error;
      }
    },
    async remove(path) {
      await rm(join(root, path), { force: true });
      await fsyncDir(dirname(join(root, path)));
    },
    async read(path) {
      try {
        return new Uint8Array(await readFile(join(root, path)));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw error;
      }
    },
  };
}
