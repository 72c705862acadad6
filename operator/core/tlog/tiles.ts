// C2SP tlog-tiles: the Merkle tree served as tiles of 256 hashes and the
// entries as bundles, at static paths. Pure: path names, which tile holds a
// stored node, the node's hash from its tile, and the entry bundle encoding.
import { HASH_SIZE, nodeHash, nodesFor, type Hash, type Node, type NodeReader } from "./merkle.ts";

/** Hashes per full tile; tiles are subtrees of height 8. */
export const TILE_WIDTH = 256;
const TILE_HEIGHT = 8;

export interface Tile {
  /** The tile's level: its hashes are Merkle nodes of level 8 * level. */
  readonly level: number;
  readonly index: number;
  /** How many hashes it holds: 256, or 1 to 255 for a partial tile. */
  readonly width: number;
}

export class TileError extends Error {
  override name = "TileError";
}

/** `x001/x234/067` for 1234067: three-digit elements, all but the last prefixed with x. */
export function tileIndexPath(n: number): string {
  const digits = String(n);
  const padded = digits.padStart(Math.ceil(digits.length / 3) * 3, "0");
  const parts = padded.match(/.{3}/gu) ?? ["000"];
  return parts.map((p, i) => (i < parts.length - 1 ? `x${p}` : p)).join("/");
}

/** `tile/<L>/<N>[.p/<W>]`, or `tile/entries/<N>[.p/<W>]` for an entry bundle. */
export function tilePath(tile: Tile, entries = false): string {
  const partial = tile.width < TILE_WIDTH ? `.p/${String(tile.width)}` : "";
  return `tile/${entries ? "entries" : String(tile.level)}/${tileIndexPath(tile.index)}${partial}`;
}

/** Reads a tile path as served (after the log's prefix); undefined for anything that is not one. */
export function parseTilePath(path: string): { readonly tile: Tile; readonly entries: boolean } | undefined {
  const m = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/u.exec(
    path,
  );
  if (!m) return undefined;
  const [, level = "", index = "", width] = m;
  const n = Number(index.replaceAll("x", "").replaceAll("/", ""));
  if (!Number.isSafeInteger(n) || tileIndexPath(n) !== index) return undefined;
  const w = width === undefined ? TILE_WIDTH : Number(width);
  if (w < 1 || w >= TILE_WIDTH + (width === undefined ? 1 : 0)) return undefined;
  const entries = level === "entries";
  if (!entries && Number(level) > 63) return undefined;
  return { tile: { level: entries ? 0 : Number(level), index: n, width: w }, entries };
}

/** The tile holding the hashes a stored node is computed from, and where in it they are. */
export function tileOf(node: Node): {
  readonly level: number;
  readonly index: number;
  readonly from: number;
  readonly count: number;
} {
  const level = Math.floor(node.level / TILE_HEIGHT);
  const span = 2 ** (node.level % TILE_HEIGHT);
  const first = node.index * span;
  return { level, index: Math.floor(first / TILE_WIDTH), from: first % TILE_WIDTH, count: span };
}

/** A stored node's hash from the tile `tileOf` named (its bytes, full or partial). */
export function nodeFromTile(node: Node, tile: Uint8Array): Hash {
  const { from, count } = tileOf(node);
  return foldTile(tile, from, count);
}

/** The hash of a full tile's whole subtree: the node a tile of the level above holds for it. */
export const tileRoot = (tile: Uint8Array): Hash => foldTile(tile, 0, TILE_WIDTH);

/** The Merkle node over `count` (a power of two) consecutive hashes of a tile. */
function foldTile(tile: Uint8Array, from: number, count: number): Hash {
  if ((from + count) * HASH_SIZE > tile.length)
    throw new TileError(
      `the tile holds ${String(tile.length / HASH_SIZE)} hashes; ${String(from + count)} are needed`,
    );
  let level: Hash[] = [];
  for (let i = 0; i < count; i++)
    level.push(tile.subarray((from + i) * HASH_SIZE, (from + i + 1) * HASH_SIZE));
  while (level.length > 1) {
    const up: Hash[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(nodeHash(level[i] as Hash, level[i + 1] as Hash));
    level = up;
  }
  return level[0] as Hash;
}

/** The tiles a tree of `size` leaves has, at one level: full ones, then a partial one if any. */
export function tilesAt(level: number, size: number): { readonly full: number; readonly partial: number } {
  const hashes = Math.floor(size / 2 ** (TILE_HEIGHT * level));
  return { full: Math.floor(hashes / TILE_WIDTH), partial: hashes % TILE_WIDTH };
}

/** Entries as a bundle: each a big-endian uint16 length, then its bytes. */
export function encodeBundle(entries: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(entries.reduce((n, e) => n + 2 + e.length, 0));
  let at = 0;
  for (const e of entries) {
    if (e.length > 0xffff)
      throw new TileError(`an entry of ${String(e.length)} bytes does not fit a bundle (64 KiB)`);
    out[at] = e.length >> 8;
    out[at + 1] = e.length & 0xff;
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return out;
}

export function decodeBundle(bytes: Uint8Array): Uint8Array[] {
  const entries: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 2 > bytes.length) throw new TileError("the bundle ends inside an entry's length");
    const length = ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
    if (at + 2 + length > bytes.length) throw new TileError("the bundle ends inside an entry");
    entries.push(bytes.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  if (entries.length > TILE_WIDTH) throw new TileError("the bundle holds more than 256 entries");
  return entries;
}

/**
 * Runs a tree computation over tiles: the tiles its nodes lie in are named
 * first (`nodesFor`), each fetched once, all at once; then the computation
 * runs on them. The log reads its own tiles this way, a client a remote log's.
 */
export async function withTiles<T>(
  compute: (read: NodeReader) => T,
  fetchTile: (level: number, index: number) => Promise<Uint8Array>,
): Promise<T> {
  const tiles = new Map<string, Promise<Uint8Array>>();
  const keyOf = (node: Node): string => {
    const t = tileOf(node);
    return `${String(t.level)}/${String(t.index)}`;
  };
  for (const node of nodesFor(compute)) {
    const key = keyOf(node);
    if (tiles.has(key)) continue;
    const t = tileOf(node);
    tiles.set(key, fetchTile(t.level, t.index));
  }
  const fetched = new Map(await Promise.all([...tiles].map(async ([k, p]) => [k, await p] as const)));
  return compute((node) => nodeFromTile(node, fetched.get(keyOf(node)) ?? new Uint8Array()));
}
