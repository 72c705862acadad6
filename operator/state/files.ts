// The durable file operations the store is built from. A rename is atomic on
// POSIX, but only durable once the directory itself is fsynced; the data must
// be fsynced before the rename, or a crash can leave the new name pointing at
// an empty file.
import { open, readFile, rename, rm, type FileHandle } from "node:fs/promises";
import { join } from "node:path";

export const TEMP_SUFFIX = ".tmp";

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
    written += bytesWritten;
  }
}

/** Replaces `dir/name` with `bytes`: readers see the old file or the new one, never a mix. */
export async function writeAtomic(dir: string, name: string, bytes: Uint8Array, mode = 0o666): Promise<void> {
  const target = join(dir, name);
  const temp = target + TEMP_SUFFIX;
  const handle = await open(temp, "w", mode);
  try {
    await writeAll(handle, bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, target);
  await fsyncDir(dir);
}

export async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

export const removeFile = (path: string): Promise<void> => rm(path, { force: true });
