// The region's log key: an Ed25519 seed that signs its checkpoints and
// receipts. Kept beside the federation state (made on first start, mode 0600),
// or read from a file a Secret mounts (DSC_LOG_KEY_FILE), so a new volume with
// the same Secret signs as the same log.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { readIfExists, writeAtomic } from "../state/files.ts";

const KEY_FILE = "log-key";

export class LogKeyError extends Error {
  override name = "LogKeyError";
}

/** 64 hex digits (a 32-byte seed), with or without a trailing newline. */
function parseSeed(text: string, where: string): Uint8Array {
  const hex = text.trim();
  if (!/^[0-9a-f]{64}$/iu.test(hex))
    throw new LogKeyError(
      `${where} must hold one Ed25519 seed as 64 hex digits (make one: openssl rand -hex 32)`,
    );
  return new Uint8Array(Buffer.from(hex, "hex"));
}

export async function loadLogKey(stateDir: string, file: string | undefined): Promise<Uint8Array> {
  if (file) return parseSeed(await readFile(file, "utf8"), `DSC_LOG_KEY_FILE (${file})`);
  const existing = await readIfExists(join(stateDir, KEY_FILE));
  if (existing) return parseSeed(existing.toString("utf8"), join(stateDir, KEY_FILE));
  const seed = new Uint8Array(randomBytes(32));
  await writeAtomic(
    stateDir,
    KEY_FILE,
    new TextEncoder().encode(`${Buffer.from(seed).toString("hex")}\n`),
    0o600,
  );
  return seed;
}
