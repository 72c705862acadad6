// A receipt: one decision a region took, as a canonical, versioned record,
// addressed by its content (a CIDv1 of the canonical JSON, sha2-256) and
// signed by the region's log key. The signed receipt is a log entry; the
// log's checkpoints then commit to every receipt and their order.
//
// Pure: the caller says when and what; nothing here reads a clock or a disk.
import { createHash, type KeyObject } from "node:crypto";
import { CID } from "multiformats/cid";
import * as Digest from "multiformats/hashes/digest";
import { canonicalJson } from "../manifest/canonical.ts";
import { ed25519Sign, ed25519Verify } from "../tlog/note.ts";

export const RECEIPT_VERSION = 1;

/** Every kind of decision a region records. */
export const RECEIPT_KINDS = [
  "manifest.verified",
  "manifest.refused",
  "manifest.applied",
  "manifest.pruned",
  "breach.accepted",
  "breach.refused",
  "pause.raised",
  "pause.lifted",
  "owners.changed",
  "peer.refused",
  "discrepancy",
] as const;
export type ReceiptKind = (typeof RECEIPT_KINDS)[number];

export type Json = string | number | boolean | null | readonly Json[] | { readonly [k: string]: Json };

export interface Receipt {
  readonly v: typeof RECEIPT_VERSION;
  readonly region: string;
  readonly kind: ReceiptKind;
  /** What the decision is about: a manifest's namespace/name, a report, a peer, a Safe. */
  readonly subject: string;
  /** The region's clock, RFC 3339 in milliseconds: a claim of the region, not a proven time. */
  readonly at: string;
  readonly details: { readonly [k: string]: Json };
}

export interface SignedReceipt {
  readonly cid: string;
  readonly receipt: Receipt;
  /** Ed25519 over SIGNING_PREFIX and the CID's text, base64. */
  readonly signature: string;
}

/** The codec of canonical JSON in a CID (multicodec `json`). */
const JSON_CODEC = 0x0200;
const SHA2_256 = 0x12;
/** Domain separation: a receipt signature can never be taken for a note's or a checkpoint's. */
const SIGNING_PREFIX = "dsc.federation.dev/receipt/v1\n";

const utf8 = new TextEncoder();

export function receiptCid(receipt: Receipt): CID {
  const bytes = utf8.encode(canonicalJson(receipt));
  return CID.createV1(
    JSON_CODEC,
    Digest.create(SHA2_256, new Uint8Array(createHash("sha256").update(bytes).digest())),
  );
}

export function signReceipt(receipt: Receipt, key: KeyObject): SignedReceipt {
  const cid = receiptCid(receipt).toString();
  const signature = Buffer.from(ed25519Sign(key, utf8.encode(SIGNING_PREFIX + cid))).toString("base64");
  return { cid, receipt, signature };
}

/** The log entry: the signed receipt's canonical JSON. */
export const receiptEntry = (signed: SignedReceipt): Uint8Array => utf8.encode(canonicalJson(signed));

export class ReceiptError extends Error {
  override name = "ReceiptError";
}

/**
 * The version and time a log entry claims, read without its key: how a region
 * reading another region's log notices a receipt it cannot read or a clock far
 * from its own. Undefined for an entry that is not a receipt at all.
 */
export function receiptHeader(entry: Uint8Array): { readonly v: unknown; readonly at: unknown } | undefined {
  try {
    const s = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(entry)) as {
      receipt?: { v?: unknown; at?: unknown } | null;
    } | null;
    if (!s || typeof s !== "object" || !s.receipt || typeof s.receipt !== "object") return undefined;
    return { v: s.receipt.v, at: s.receipt.at };
  } catch {
    return undefined;
  }
}

/** Reads a log entry back, checking that its CID is its receipt's and the signature is `key`'s. */
export function openReceipt(entry: Uint8Array, key: KeyObject): SignedReceipt {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(entry));
  } catch {
    throw new ReceiptError("the entry is not UTF-8 JSON");
  }
  const s = parsed as { cid?: unknown; signature?: unknown; receipt?: { v?: unknown } | null } | null;
  if (
    !s ||
    typeof s.cid !== "string" ||
    typeof s.signature !== "string" ||
    !s.receipt ||
    typeof s.receipt !== "object"
  )
    throw new ReceiptError("the entry is not a signed receipt (cid, receipt, signature)");
  if (s.receipt.v !== RECEIPT_VERSION)
    throw new ReceiptError(
      `receipt version ${String(s.receipt.v)} is not one this operator reads (${String(RECEIPT_VERSION)})`,
    );
  if (canonicalJson(s) !== new TextDecoder().decode(entry))
    throw new ReceiptError("the entry is not canonical JSON");
  const signed = s as unknown as SignedReceipt;
  if (receiptCid(signed.receipt).toString() !== signed.cid)
    throw new ReceiptError("the receipt does not hash to its CID");
  if (!ed25519Verify(key, utf8.encode(SIGNING_PREFIX + signed.cid), Buffer.from(signed.signature, "base64")))
    throw new ReceiptError("the receipt's signature is not the log key's");
  return signed;
}
