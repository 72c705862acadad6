// The operator's log output checked by Go's own implementations (x/mod's
// sumdb/tlog and sumdb/note, transparency-dev/formats), built from the Go
// module proxy: tree heads, inclusion and consistency proofs (compared hash by
// hash with Go's), tile paths and bytes, entry bundles, the signed checkpoint
// and two witnesses' cosignature/v1 lines.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cosigner } from "../../operator/core/tlog/checkpoint.ts";
import {
  COSIGNATURE_V1,
  ED25519,
  ed25519Key,
  formatNote,
  formatVkey,
  noteSigner,
  noteVerifier,
  parseNote,
  signNote,
} from "../../operator/core/tlog/note.ts";
import { tilePath, tilesAt } from "../../operator/core/tlog/tiles.ts";
import { diskFiles } from "../../operator/tlog/durable.ts";
import { TileLog } from "../../operator/tlog/tile-log.ts";

const ORIGIN = "beta.dsc.example/log";
const here = join(import.meta.dirname, "go");
const dir = mkdtempSync(join(tmpdir(), "tlog-go-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");

describe("the log, read by Go's sumdb/tlog, sumdb/note and transparency-dev/formats", () => {
  it(
    "agrees on every root, proof, tile, bundle, the checkpoint's signature and its cosignatures",
    { timeout: 600_000 },
    async () => {
      const binary = execFileSync("bash", [join(here, "build.sh")], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
      }).trim();
      const key = ed25519Key(new Uint8Array(32).fill(3));
      const log = await TileLog.open({
        files: diskFiles(dir),
        origin: ORIGIN,
        signer: noteSigner(ORIGIN, key.seed),
        verifier: noteVerifier(ORIGIN, key.publicKey),
      });
      const entries: Uint8Array[] = [];
      const sizes: number[] = [];
      for (const batch of [1, 6, 249, 1, 1000, 64_279, 70]) {
        const start = entries.length;
        for (let i = 0; i < batch; i++)
          entries.push(new TextEncoder().encode(`{"receipt":${String(start + i)}}`));
        await Promise.all(entries.slice(start).map((e) => log.append(e)));
        sizes.push(log.size);
      }
      const size = log.size;
      const indexes = [0, 1, 7, 255, 256, 1512, 65_535, 65_536, size - 1];
      const tiles = [];
      for (const entriesTile of [false, true]) {
        for (let level = 0; level < (entriesTile ? 1 : 3); level++) {
          const { full, partial } = tilesAt(level, size);
          for (const t of [
            { level, index: 0, width: 256 },
            { level, index: full - 1, width: 256 },
            { level, index: full, width: partial },
          ]) {
            if (t.index < 0 || t.width === 0 || (t.width === 256 && t.index >= full)) continue;
            const path = tilePath(t, entriesTile);
            const data = await log.readTile(path);
            expect(data, path).toBeDefined();
            tiles.push({ ...t, entries: entriesTile, path, data: b64(data ?? new Uint8Array()) });
          }
        }
      }
      const witnesses = ["gamma.dsc.example/witness", "alpha.dsc.example/witness"].map((name, i) => {
        const k = ed25519Key(new Uint8Array(32).fill(10 + i));
        return { signer: cosigner(name, k.seed), vkey: formatVkey(name, COSIGNATURE_V1, k.publicKey) };
      });
      const cosigned = formatNote(
        signNote(
          parseNote(log.checkpoint.note),
          witnesses.map((w) => w.signer),
        ),
      );
      const request = {
        origin: ORIGIN,
        logVkey: formatVkey(ORIGIN, ED25519, key.publicKey),
        witnessVkeys: witnesses.map((w) => w.vkey),
        checkpoint: cosigned,
        entries: entries.map(b64),
        roots: [],
        inclusion: await Promise.all(
          indexes.map(async (index) => ({ index, size, proof: (await log.inclusionProof(index)).map(b64) })),
        ),
        consistency: await Promise.all(
          sizes.map(async (old) => ({ old, new: size, proof: (await log.consistencyProof(old)).map(b64) })),
        ),
        tiles,
      };
      const out = JSON.parse(
        execFileSync(binary, [], { input: JSON.stringify(request), encoding: "utf8", maxBuffer: 1 << 24 }),
      ) as {
        errors: string[];
        checked: number;
        witnessed: number;
      };
      expect(out.errors).toEqual([]);
      expect(out.checked).toBe(indexes.length + sizes.length + tiles.length + 1);
      expect(out.witnessed).toBe(2);

      // And Go refuses what it should: a tampered proof, a checkpoint signed by another key.
      const bad = {
        ...request,
        inclusion: [
          {
            ...request.inclusion[3],
            proof: [b64(new Uint8Array(32)), ...(request.inclusion[3]?.proof.slice(1) ?? [])],
          },
        ],
        consistency: [],
        tiles: [],
        logVkey: formatVkey(ORIGIN, ED25519, ed25519Key(new Uint8Array(32).fill(4)).publicKey),
      };
      const refused = JSON.parse(
        execFileSync(binary, [], { input: JSON.stringify(bad), encoding: "utf8", maxBuffer: 1 << 24 }),
      ) as {
        errors: string[];
      };
      expect(refused.errors.some((e) => e.startsWith("inclusion of 255"))).toBe(true);
      expect(refused.errors.some((e) => e.startsWith("checkpoint:"))).toBe(true);
    },
  );
});
