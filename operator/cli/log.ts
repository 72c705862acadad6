// `dsc log`: a region's decision log, read and proven from outside the
// cluster. A checkpoint and a receipt are read over C2SP tlog-tiles (the
// operator's /log/) and proven against the log's key; `prove` writes an
// offline C2SP tlog-proof bundle holding the receipt itself (its `extra`),
// and `verify` checks one with nothing but keys: the log's, and k of n
// witnesses'.
import { readFileSync, writeFileSync } from "node:fs";
import { openReceipt, type SignedReceipt } from "../core/receipt/receipt.ts";
import { cosignatureVerifier, witnessName } from "../core/tlog/checkpoint.ts";
import {
  COSIGNATURE_V1,
  ED25519,
  ed25519PublicKey,
  formatNote,
  NoteError,
  noteVerifier,
  parseVkey,
  type Verifier,
} from "../core/tlog/note.ts";
import { formatProof, parseProof, verifyProof } from "../core/tlog/proof.ts";
import { ProofError } from "../core/tlog/merkle.ts";
import { LogClientError, TileClient } from "../tlog/client.ts";
import { UsageError } from "./context.ts";

export const LOG_USAGE = `  dsc log checkpoint --url URL --vkey VKEY                  the log's latest checkpoint, verified, and who cosigned it
  dsc log get INDEX  --url URL --vkey VKEY [--json]         one receipt, proven against the checkpoint
  dsc log prove INDEX --url URL --vkey VKEY [-o FILE]       an offline proof (C2SP tlog-proof) holding the receipt
  dsc log verify FILE --vkey VKEY [--witness VKEY]... [--quorum K]   check a proof offline
  URL: a region's log, http://HOST:PORT/log/ on its operator; VKEY: its Federation's status.log.vkey.
  --witness takes a witness's cosigning vkey, or a peer region's log vkey (its witness signs with that key).`;

export interface LogFlags {
  readonly url?: string | undefined;
  readonly vkey?: string | undefined;
  readonly witness?: readonly string[] | undefined;
  readonly quorum?: string | undefined;
  readonly output?: string | undefined;
  readonly json?: boolean | undefined;
}

type Out = (line: string) => void;

function logKey(flags: LogFlags): { verifier: Verifier; publicKey: Uint8Array } {
  if (!flags.vkey) throw new UsageError("--vkey: the log's verifier key (its Federation's status.log.vkey)");
  const vkey = parseVkey(flags.vkey, "--vkey");
  if (vkey.type !== ED25519) throw new UsageError("--vkey: a log key is an Ed25519 note key (type 1)");
  return { verifier: noteVerifier(vkey.name, vkey.publicKey), publicKey: vkey.publicKey };
}

function client(flags: LogFlags): TileClient {
  if (!flags.url) throw new UsageError("--url: the log's address, e.g. http://HOST:8080/log/");
  return new TileClient(flags.url, logKey(flags).verifier);
}

function index(text: string | undefined): number {
  if (text === undefined || !/^(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(Number(text)))
    throw new UsageError(`INDEX: ${JSON.stringify(text ?? "")} is not a receipt's index (0, 1, ...)`);
  return Number(text);
}

/** A witness's cosignature verifier from its vkey, or from the log vkey of the region it belongs to. */
function witness(text: string): Verifier {
  const vkey = parseVkey(text, "--witness");
  if (vkey.type === COSIGNATURE_V1) return cosignatureVerifier(vkey.name, vkey.publicKey);
  if (vkey.type === ED25519) return cosignatureVerifier(witnessName(vkey.name), vkey.publicKey);
  throw new UsageError("--witness: not an Ed25519 cosigning key (type 4) or log key (type 1)");
}

/** The receipt at INDEX, read from the log and proven against its checkpoint. */
async function oneReceipt(flags: LogFlags, arg: string | undefined) {
  const i = index(arg);
  const c = client(flags);
  const checkpoint = await c.checkpoint();
  if (i >= checkpoint.size)
    throw new UsageError(`the log has ${String(checkpoint.size)} receipts; there is no ${String(i)}`);
  const [entry] = await c.entries(checkpoint, i, i + 1);
  if (!entry) throw new LogClientError(`the log did not serve receipt ${String(i)}`);
  return { index: i, entry, client: c, checkpoint };
}

function describe(r: SignedReceipt, at: number): string {
  const d = r.receipt;
  return `receipt ${String(at)}  ${d.kind}  ${d.subject}  in ${d.region} at ${d.at}\ncid ${r.cid}\n${JSON.stringify(d.details, null, 2)}`;
}

export async function logCommand(args: readonly string[], flags: LogFlags, out: Out): Promise<number> {
  const [sub, arg, ...extra] = args;
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
  try {
    switch (sub) {
      case "checkpoint": {
        const checkpoint = await client(flags).checkpoint();
        out(formatNote(checkpoint.note).trimEnd());
        out(`\n${checkpoint.origin}: ${String(checkpoint.size)} receipts, signed by its key`);
        const others = checkpoint.note.signatures
          .filter((s) => s.name !== checkpoint.origin)
          .map((s) => s.name);
        out(others.length > 0 ? `cosigned by (unverified here): ${others.join(", ")}` : "no cosignatures");
        return 0;
      }
      case "get": {
        const { index: i, entry } = await oneReceipt(flags, arg);
        const receipt = openReceipt(entry, ed25519PublicKey(logKey(flags).publicKey));
        out(flags.json ? JSON.stringify({ index: i, ...receipt }, null, 2) : describe(receipt, i));
        return 0;
      }
      case "prove": {
        const { index: i, entry, client: c, checkpoint } = await oneReceipt(flags, arg);
        const proof = formatProof({
          index: i,
          proof: await c.inclusionProof(checkpoint, i),
          checkpoint: checkpoint.note,
          extra: entry,
        });
        if (flags.output) {
          writeFileSync(flags.output, proof);
          out(
            `wrote ${flags.output}: receipt ${String(i)} of ${String(checkpoint.size)} in ${checkpoint.origin}`,
          );
        } else out(proof.trimEnd());
        return 0;
      }
      case "verify": {
        if (!arg) throw new UsageError("dsc log verify needs a proof FILE (.tlog-proof)");
        const { verifier, publicKey } = logKey(flags);
        const witnesses = (flags.witness ?? []).map(witness);
        const quorum = flags.quorum === undefined ? witnesses.length : Number(flags.quorum);
        if (!Number.isInteger(quorum) || quorum < 0 || quorum > witnesses.length)
          throw new UsageError(
            `--quorum: a number from 0 to the ${String(witnesses.length)} --witness keys given`,
          );
        const proof = parseProof(readFileSync(arg, "utf8"));
        if (!proof.extra) throw new ProofError("the proof holds no receipt (its extra line)");
        const proven = verifyProof(proof, proof.extra, {
          origin: verifier.name,
          log: verifier,
          witnesses,
          quorum,
        });
        const receipt = openReceipt(proof.extra, ed25519PublicKey(publicKey));
        out(describe(receipt, proof.index));
        out(
          `\nOK: receipt ${String(proof.index)} is in ${proven.checkpoint.origin} at size ${String(proven.checkpoint.size)}, signed by the log` +
            (witnesses.length > 0
              ? ` and cosigned by ${String(proven.witnesses.length)} of ${String(witnesses.length)} witnesses (${proven.witnesses.join(", ") || "none"}; quorum ${String(quorum)})`
              : ""),
        );
        return 0;
      }
      default:
        throw new UsageError(`dsc log: checkpoint, get, prove or verify\n${LOG_USAGE}`);
    }
  } catch (error) {
    if (
      error instanceof ProofError ||
      error instanceof NoteError ||
      error instanceof LogClientError ||
      (error instanceof Error && error.name === "ReceiptError")
    ) {
      out(`FAILED: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
