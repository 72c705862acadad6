// The federation policy this region has adopted, on its own disk. A region
// adopts a policy only from a critical `policy` manifest it verified itself
// (manifests/reconciler.ts), so nothing a peer writes into the shared document
// can change it; this file is what that verification left behind, and it
// outlives the approvals' expiry. Without a state directory (a region that
// does not replicate) the ledger lives in memory and a restart starts from
// the built-in policy: the reconciler adopts nothing there (a lone region).
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import {
  BUILT_IN_POLICY,
  parsePolicy,
  PolicyError,
  type AdoptedPolicy,
} from "../core/approval/federation-policy.ts";
import { Topic } from "../runtime/topic.ts";
import { readIfExists, writeAtomic } from "./files.ts";
import { readLedgerFile } from "./ledger-file.ts";

const FILE = "policy.json";
const SCHEMA = 1;

export class PolicyLedger {
  readonly #dir: string | undefined;
  #current: AdoptedPolicy;
  #writing: Promise<void> = Promise.resolve();
  /** Published once a new policy is in force (and on disk). */
  readonly changed = new Topic<AdoptedPolicy>();

  private constructor(dir: string | undefined, current: AdoptedPolicy) {
    this.#dir = dir;
    this.#current = current;
  }

  /** Opens the ledger in `dir`; a damaged file stops the region (fail closed), naming the file. */
  static async open(dir: string): Promise<PolicyLedger> {
    await mkdir(dir, { recursive: true });
    const bytes = await readIfExists(join(dir, FILE));
    return new PolicyLedger(dir, bytes ? parseLedger(bytes.toString("utf8")) : BUILT_IN_POLICY);
  }

  static inMemory(): PolicyLedger {
    return new PolicyLedger(undefined, BUILT_IN_POLICY);
  }

  current(): AdoptedPolicy {
    return this.#current;
  }

  /** Whether what it adopts outlives the process. */
  get durable(): boolean {
    return this.#dir !== undefined;
  }

  /**
   * Puts `adopted` in force once it is on disk, and says whether it did.
   * Callers decide with policyStep; a nonce at or below the one in force
   * arriving here anyway (two passes racing) is not adopted.
   */
  adopt(adopted: AdoptedPolicy): Promise<boolean> {
    const write = this.#writing.then(async () => {
      if (adopted.nonce <= this.#current.nonce) return false;
      if (this.#dir)
        await writeAtomic(this.#dir, FILE, Buffer.from(JSON.stringify({ schema: SCHEMA, ...adopted })));
      this.#current = adopted;
      this.changed.publish(adopted);
      return true;
    });
    this.#writing = write.then(
      () => undefined,
      () => undefined,
    );
    return write;
  }
}

function parseLedger(text: string): AdoptedPolicy {
  const { fail, fields: file } = readLedgerFile(
    text,
    FILE,
    SCHEMA,
    "restore it from a backup, or remove it to start from the built-in policy until the policy manifest is verified again",
  );
  const { manifest, nonce, digest, at } = file;
  if (typeof manifest !== "string" || typeof digest !== "string")
    return fail("manifest and digest must be strings");
  if (!Number.isSafeInteger(nonce) || (nonce as number) < 1)
    return fail("nonce must be a whole number above 0");
  if (!Number.isFinite(at)) return fail("at must be a time in ms");
  try {
    return {
      policy: parsePolicy(file.policy, "policy"),
      manifest,
      nonce: nonce as number,
      digest,
      at: at as number,
    };
  } catch (error) {
    if (error instanceof PolicyError) return fail(error.message);
    throw error;
  }
}
