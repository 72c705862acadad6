// The format of what a region keeps on disk, written beside it in a file of
// its own, so that a newer release can tell an older store from its own and
// bring it forward, and an older release is stopped before it misreads a
// newer store. (The federation document also carries its schema inside
// itself, document.ts; this marks the directory: state, specs, log.)
//
// A store made before these markers existed is format 1: that is the layout
// every release up to this one wrote. A step from format n to n + 1 must be
// safe to run again after a crash (the marker says n until it has finished)
// and must keep a copy of what it replaces that the older release can run on,
// as the state's schema migration keeps state.previous.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { readIfExists, TEMP_SUFFIX, writeAtomic } from "./files.ts";

export const FORMAT_FILE = "FORMAT";

export interface StoreFormat {
  /** What the directory holds: refuses a directory of another store given by mistake. */
  readonly store: string;
  /** The format this release writes. */
  readonly version: number;
  /** The step from format n to n + 1, for each n below `version`. */
  readonly steps?: Readonly<Record<number, () => Promise<void>>>;
}

/** The file operations a format check needs: the tile log's LogFiles fit, and so does `directory`. */
export interface FormatFiles {
  read(name: string): Promise<Uint8Array | undefined>;
  write(name: string, bytes: Uint8Array): Promise<void>;
  /** Whether the store holds anything yet (a directory that does not exist holds nothing). */
  isEmpty(): Promise<boolean>;
}

export function directory(dir: string): FormatFiles {
  return {
    read: (name) => readIfExists(join(dir, name)),
    write: (name, bytes) => writeAtomic(dir, name, bytes),
    async isEmpty() {
      try {
        // A fresh volume's lost+found is not a store's content.
        return (await readdir(dir)).every((n) => n.endsWith(TEMP_SUFFIX) || n === "lost+found");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return true;
        throw error;
      }
    },
  };
}

export class StoreFormatError extends Error {
  override name = "StoreFormatError";
}

/**
 * Checks the store's format marker and brings an older store to this
 * release's format. Returns the format it was found in; throws, changing
 * nothing, for a newer format, another store or a damaged marker.
 */
export async function checkFormat(files: FormatFiles, format: StoreFormat, where: string): Promise<number> {
  const found = await readMarker(files, format, where);
  if (found === undefined) {
    // An empty store is new: it is written in this format from the start.
    const from = (await files.isEmpty()) ? format.version : 1;
    if (from === format.version) {
      await writeMarker(files, format, format.version);
      return from;
    }
    return await migrateFrom(files, format, from, where);
  }
  if (found > format.version)
    throw new StoreFormatError(
      `${where} is ${format.store} format ${String(found)}, written by a newer release; this release reads format ${String(format.version)} at most. Run the newer release, or put back the copy an upgrade keeps`,
    );
  return found === format.version ? found : await migrateFrom(files, format, found, where);
}

async function migrateFrom(
  files: FormatFiles,
  format: StoreFormat,
  from: number,
  where: string,
): Promise<number> {
  for (let v = from; v < format.version; v++) {
    const step = format.steps?.[v];
    if (!step)
      throw new StoreFormatError(
        `${where} is ${format.store} format ${String(v)}, and this release cannot bring it to format ${String(format.version)}: upgrade through the release before this one first`,
      );
    await step();
    await writeMarker(files, format, v + 1);
  }
  return from;
}

async function readMarker(
  files: FormatFiles,
  format: StoreFormat,
  where: string,
): Promise<number | undefined> {
  const bytes = await files.read(FORMAT_FILE);
  if (bytes === undefined) return undefined;
  const damaged = (why: string) =>
    new StoreFormatError(
      `${where}/${FORMAT_FILE} ${why}; it should read {"store":"${format.store}","format":<n>}. Restore it from a backup (or the copy an upgrade keeps)`,
    );
  let marker: unknown;
  try {
    marker = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw damaged("is not JSON");
  }
  if (typeof marker !== "object" || marker === null) throw damaged("is not an object");
  const { store, format: version } = marker as { store?: unknown; format?: unknown };
  if (store !== format.store)
    throw new StoreFormatError(
      `${where} holds ${JSON.stringify(store)}, not ${format.store}: check the directory this operator was given`,
    );
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1)
    throw damaged(`names format ${JSON.stringify(version)}, not a whole number from 1`);
  return version;
}

function writeMarker(files: FormatFiles, format: StoreFormat, version: number): Promise<void> {
  return files.write(
    FORMAT_FILE,
    new TextEncoder().encode(`${JSON.stringify({ store: format.store, format: version })}\n`),
  );
}
