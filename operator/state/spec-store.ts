// Manifest specs, stored by digest beside the federation document rather than
// in it. Measured with synthetic documents on Automerge 3.5: the document's
// memory grows with the bytes of the strings it holds, about 5x on load and
// 9x on save, whatever form they take (map keys, ImmutableString or byte values).
// Specs were 56% of those bytes at 10,000 manifests (9.6 of 17.1 MB), and a
// real manifest is larger than the bench's 1 KB. Here a spec costs its bytes
// on disk and a digest in memory.
//
// A digest names exactly one spec, so this needs no merge rule: the peers'
// copies are equal or wrong, and the caller checks a spec against its digest
// before `put` (the exchange in replication/spec-exchange.ts). A crash leaves at most
// a temp file, removed at open: every file here was fsynced before it got
// its name.
//
// Specs an older state held in itself (migrate.ts) were never checked: any
// peer could have written them. They wait in `unchecked/`, invisible to
// readers, until the exchange checks one as it checks a peer's answer.
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { VersionFacts } from "./collect.ts";
import { fsyncDir, removeFile, TEMP_SUFFIX, writeAtomic } from "./files.ts";
import { checkFormat, directory, type StoreFormat } from "./format.ts";
import { checkDigest } from "./model.ts";

const SUFFIX = ".json";
const UNCHECKED = "unchecked";

/** One file per spec, named by its digest, holding its canonical JSON: format 1. */
export const SPEC_FORMAT: StoreFormat = { store: "dsc-specs", version: 1 };

/** Specs read lately, kept in memory: the mirror reads the same few on every pass. */
const RECENT = 128;

export class SpecStore {
  readonly #dir: string;
  /** Digests whose spec is on disk. */
  readonly #digests: Set<string>;
  /** Specs being written: readable at once, on disk once their write lands. */
  readonly #writing = new Map<string, { readonly json: string; readonly written: Promise<void> }>();
  readonly #recent = new Map<string, string>();
  /** What collection reads of each spec, kept once read: tens of bytes a digest. */
  readonly #facts = new Map<string, VersionFacts | null>();
  /** Digests of specs migrated from an older state, not yet checked against their digest. */
  readonly #unchecked: Set<string>;

  private constructor(dir: string, digests: Set<string>, unchecked: Set<string>) {
    this.#dir = dir;
    this.#digests = digests;
    this.#unchecked = unchecked;
  }

  static async open(dir: string): Promise<SpecStore> {
    await mkdir(dir, { recursive: true });
    await checkFormat(directory(dir), SPEC_FORMAT, dir);
    const digests = await specFiles(dir);
    const unchecked = await specFiles(join(dir, UNCHECKED));
    // Checked since (a crash came between storing it and dropping the unchecked copy).
    const done = [...unchecked].filter((d) => digests.has(d));
    await Promise.all(done.map((d) => removeFile(join(dir, UNCHECKED, d + SUFFIX))));
    return new SpecStore(dir, digests, new Set([...unchecked].filter((d) => !digests.has(d))));
  }

  has(digest: string): boolean {
    const d = digest.toLowerCase();
    return this.#digests.has(d) || this.#writing.has(d);
  }

  get size(): number {
    return this.#digests.size;
  }

  /** The canonical spec JSON stored for a digest, or undefined if this region has none yet. */
  async get(digest: string): Promise<string | undefined> {
    const d = digest.toLowerCase();
    const held = this.#writing.get(d)?.json ?? this.#recent.get(d);
    if (held !== undefined) return held;
    if (!this.#digests.has(d)) return undefined;
    const json = await readFile(join(this.#dir, d + SUFFIX), "utf8");
    this.#remember(d, json);
    return json;
  }

  /**
   * Stores a spec durably (a repeat is a no-op, or joins the write in
   * flight). The caller has checked it against the digest. The spec is
   * readable from the moment this is called; the promise says when it is
   * on disk. A failed write forgets it, as if never put.
   */
  put(digest: string, json: string): Promise<void> {
    let d: string;
    try {
      d = checkDigest(digest);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    if (this.#digests.has(d)) return Promise.resolve();
    const inFlight = this.#writing.get(d);
    if (inFlight) return inFlight.written;
    const written = writeAtomic(this.#dir, d + SUFFIX, Buffer.from(json, "utf8")).then(
      async () => {
        this.#digests.add(d);
        this.#writing.delete(d);
        this.#remember(d, json);
        // Left behind if this fails, and removed at the next open.
        if (this.#unchecked.has(d)) await this.dropUnchecked([d]).catch(() => undefined);
      },
      (error: unknown) => {
        this.#writing.delete(d);
        throw error;
      },
    );
    this.#writing.set(d, { json, written });
    return written;
  }

  /** Keeps a spec an older state held, unchecked: no reader sees it until `put` after a check. */
  async putUnchecked(digest: string, json: string): Promise<void> {
    const d = checkDigest(digest);
    if (this.#digests.has(d) || this.#unchecked.has(d)) return;
    // A new directory's name is durable once its parent is.
    if (await mkdir(join(this.#dir, UNCHECKED), { recursive: true })) await fsyncDir(this.#dir);
    await writeAtomic(join(this.#dir, UNCHECKED), d + SUFFIX, Buffer.from(json, "utf8"));
    this.#unchecked.add(d);
  }

  /** The unchecked spec kept for a digest, if any (to check it, then `put` or `dropUnchecked`). */
  async unchecked(digest: string): Promise<string | undefined> {
    const d = digest.toLowerCase();
    if (!this.#unchecked.has(d)) return undefined;
    return await readFile(join(this.#dir, UNCHECKED, d + SUFFIX), "utf8");
  }

  holdsUnchecked(digest: string): boolean {
    return this.#unchecked.has(digest.toLowerCase());
  }

  uncheckedDigests(): string[] {
    return [...this.#unchecked];
  }

  /** Removes unchecked specs (one directory fsync for all); returns how many went. */
  async dropUnchecked(digests: Iterable<string>): Promise<number> {
    const gone = [...digests].map((d) => d.toLowerCase()).filter((d) => this.#unchecked.delete(d));
    await Promise.all(gone.map((d) => removeFile(join(this.#dir, UNCHECKED, d + SUFFIX))));
    if (gone.length > 0) await fsyncDir(join(this.#dir, UNCHECKED));
    return gone.length;
  }

  /**
   * A spec's targets and expiry, for collect.ts; undefined without the spec,
   * or with one that does not say them (then nothing of it is collected).
   */
  async facts(digest: string): Promise<VersionFacts | undefined> {
    const d = digest.toLowerCase();
    let facts = this.#facts.get(d);
    if (facts === undefined) {
      const json = await this.get(d);
      if (json === undefined) return undefined;
      facts = factsOf(json);
      if (this.#digests.has(d)) this.#facts.set(d, facts);
    }
    return facts ?? undefined;
  }

  /**
   * Removes every spec whose digest is not in `keep` and not being written;
   * returns how many went. After a rebase: the document names what is kept.
   */
  async retain(keep: ReadonlySet<string>): Promise<number> {
    const gone = [...this.#digests].filter((d) => !keep.has(d) && !this.#writing.has(d));
    for (const d of gone) {
      this.#digests.delete(d);
      this.#recent.delete(d);
      this.#facts.delete(d);
    }
    await Promise.all(gone.map((d) => removeFile(join(this.#dir, d + SUFFIX))));
    if (gone.length > 0) await fsyncDir(this.#dir);
    return gone.length + (await this.dropUnchecked([...this.#unchecked].filter((d) => !keep.has(d))));
  }

  /** Resolves once every write in flight has landed or failed (before the directory goes). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#writing.values()].map((w) => w.written));
  }

  #remember(digest: string, json: string): void {
    this.#recent.delete(digest);
    this.#recent.set(digest, json);
    for (const oldest of this.#recent.keys()) {
      if (this.#recent.size <= RECENT) break;
      this.#recent.delete(oldest);
    }
  }
}

function factsOf(json: string): VersionFacts | null {
  try {
    const spec = JSON.parse(json) as { targets?: unknown; expiresAt?: unknown };
    const expiresAt = typeof spec.expiresAt === "string" ? Date.parse(spec.expiresAt) : NaN;
    const targets = Array.isArray(spec.targets) ? spec.targets.filter((t) => typeof t === "string") : [];
    return Number.isFinite(expiresAt) && targets.length > 0 ? { targets, expiresAt } : null;
  } catch {
    return null;
  }
}

/** The digests whose spec a directory holds; a temp file a crash left there is removed. */
async function specFiles(dir: string): Promise<Set<string>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return new Set();
    throw error;
  }
  await Promise.all(names.filter((n) => n.endsWith(TEMP_SUFFIX)).map((n) => removeFile(join(dir, n))));
  return new Set(names.filter((n) => n.endsWith(SUFFIX)).map((n) => n.slice(0, -SUFFIX.length)));
}
