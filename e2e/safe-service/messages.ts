// Safe messages (off-chain EIP-1271 signatures): propose with a first owner
// signature, add the others one by one, read back the confirmations and the
// signature blob a verifier hands to the Safe.
import type { Address, Hex } from "viem";
import type { ChainReader } from "./chain.ts";
import {
  confirmationSignature,
  now,
  refuseDuplicate,
  verifyOwnerSignature,
  type Confirmation,
} from "./confirmations.ts";
import { hexBytes, optional, pathAddress, pathHash, required, shortString, uint256 } from "./fields.ts";
import { hashSafeMessageBody, safeMessageHash, type SafeMessageBody } from "./hashes.ts";
import { badRequest, notFound, order, paginate, type Reply, type Router } from "./http.ts";
import { encodeAsContractSignature, encodeSignatures } from "./signatures.ts";

const MAX_SIGNATURE_BYTES = 5000;

interface StoredMessage {
  readonly safe: Address;
  readonly messageHash: Hex;
  readonly message: SafeMessageBody;
  readonly proposedBy: Address;
  readonly safeAppId: number | null;
  readonly origin: string | null;
  readonly created: Date;
  modified: Date;
  readonly confirmations: Confirmation[];
}

function render(m: StoredMessage): unknown {
  const signatures = m.confirmations.map((c) => c.signature);
  return {
    created: m.created.toISOString(),
    modified: m.modified.toISOString(),
    safe: m.safe,
    messageHash: m.messageHash,
    message: m.message,
    proposedBy: m.proposedBy,
    safeAppId: m.safeAppId,
    confirmations: m.confirmations.map((c) => ({
      created: c.created.toISOString(),
      modified: c.created.toISOString(),
      owner: c.signature.owner,
      signature: confirmationSignature(c),
      signatureType: c.signature.type,
    })),
    preparedSignature: encodeSignatures(signatures),
    preparedSignatureEip1271: encodeAsContractSignature(m.safe, signatures),
    origin: m.origin ?? "{}",
  };
}

export function messageRoutes(router: Router, chain: ChainReader): void {
  const messages = new Map<Hex, StoredMessage>();

  const find = (param: string): StoredMessage => {
    const hash = pathHash(param, "safeMessageHash");
    const message = messages.get(hash);
    if (!message) throw notFound(`No Safe message with safeMessageHash=${hash}`);
    return message;
  };
  const refuseExisting = (hash: Hex, safe: Address): void => {
    if (messages.has(hash)) throw badRequest(`Message with hash ${hash} for safe ${safe} already exists`);
  };

  router.add("POST", "/v1/safes/{address}/messages/", async (req): Promise<Reply> => {
    const safe = pathAddress(req.params[0] ?? "");
    const body = await req.body();
    const { message, hash } = hashSafeMessageBody(required(body, "message"));
    const signature = hexBytes(required(body, "signature"), "signature", 65, MAX_SIGNATURE_BYTES);
    const safeAppId = optional(body.safeAppId, (v) => Number(uint256(v, "safeAppId")));
    const origin = optional(body.origin, (v) => shortString(v, "origin", 200));
    const messageHash = safeMessageHash(chain.chainId, safe, hash).toLowerCase() as Hex;
    refuseExisting(messageHash, safe);
    const owners = await chain.owners(safe);
    const first = await verifyOwnerSignature(chain, safe, owners, messageHash, signature);
    refuseExisting(messageHash, safe); // another request may have stored it meanwhile
    const created = now();
    messages.set(messageHash, {
      safe,
      messageHash,
      message,
      proposedBy: first.owner,
      safeAppId,
      origin,
      created,
      modified: created,
      confirmations: [{ signature: first, created }],
    });
    return { status: 201 };
  });

  router.add("POST", "/v1/messages/{hash}/signatures/", async (req): Promise<Reply> => {
    const stored = find(req.params[0] ?? "");
    const body = await req.body();
    const signature = hexBytes(required(body, "signature"), "signature", 65, MAX_SIGNATURE_BYTES);
    const owners = await chain.owners(stored.safe);
    const added = await verifyOwnerSignature(chain, stored.safe, owners, stored.messageHash, signature);
    refuseDuplicate(stored.confirmations, added.owner);
    stored.modified = now();
    stored.confirmations.push({ signature: added, created: stored.modified });
    return { status: 201 };
  });

  router.add("GET", "/v1/messages/{hash}/", (req) =>
    Promise.resolve({ status: 200, body: render(find(req.params[0] ?? "")) }),
  );

  router.add("GET", "/v1/safes/{address}/messages/", (req) => {
    const safe = pathAddress(req.params[0] ?? "");
    const own = [...messages.values()].filter((m) => m.safe === safe);
    const sorted = order(
      req.url,
      own,
      { created: (m) => m.created.getTime(), modified: (m) => m.modified.getTime() },
      "-created",
    );
    const page = paginate(req.url, sorted);
    return Promise.resolve({ status: 200, body: { ...page, results: page.results.map(render) } });
  });
}
