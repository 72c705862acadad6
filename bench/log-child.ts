// A fresh process that opens a big log and proves from it: what the operator's
// log costs in memory is what this process holds (bench/log.ts).
import { formatProof } from "../operator/core/tlog/proof.ts";
import { leafHash, verifyInclusion } from "../operator/core/tlog/merkle.ts";
import { ed25519Key, noteSigner, noteVerifier, parseNote } from "../operator/core/tlog/note.ts";
import { diskFiles } from "../operator/tlog/durable.ts";
import { TileLog } from "../operator/tlog/tile-log.ts";

const [dir = "", origin = "", seedHex = ""] = process.argv.slice(2);
const seed = new Uint8Array(Buffer.from(seedHex, "hex"));
const key = ed25519Key(seed);
const log = await TileLog.open({
  files: diskFiles(dir),
  origin,
  signer: noteSigner(origin, seed),
  verifier: noteVerifier(origin, key.publicKey),
});
const size = log.size;
let proofHashes = 0;
let proofBytes = 0;
let proving = 0;
let verifying = 0;
for (let i = 0; i < 1000; i++) {
  const index = Math.floor((i * 7919 * 104729) % size);
  const entry = (await log.entry(index)) ?? new Uint8Array();
  let t = performance.now();
  const proof = await log.inclusionProof(index);
  proving += performance.now() - t;
  t = performance.now();
  verifyInclusion(index, size, leafHash(entry), proof, log.checkpoint.root);
  verifying += performance.now() - t;
  proofHashes = proof.length;
  proofBytes = new TextEncoder().encode(
    formatProof({ index, proof, checkpoint: parseNote(log.checkpoint.note) }),
  ).length;
}
process.stdout.write(
  JSON.stringify({
    size,
    proofHashes,
    proofBytes,
    proveMillis: proving / 1000,
    verifyMicros: (verifying / 1000) * 1000,
    rssMb: process.memoryUsage().rss / 2 ** 20,
  }),
);
