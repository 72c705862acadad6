// A ledger is a small JSON file of this region's own (its pauses, its
// policy) that a damaged copy must not silently reset: reading one either
// gives its fields or stops the region, naming the file and the way out.
// Pure; the ledgers read and write the bytes.

export interface CheckedLedger {
  /** Throws, naming the file, what is wrong and how to recover. */
  readonly fail: (why: string) => never;
  /** The file's top-level fields, once it is JSON of the expected schema. */
  readonly fields: Record<string, unknown>;
}

export function readLedgerFile(text: string, name: string, schema: number, recovery: string): CheckedLedger {
  const fail = (why: string): never => {
    throw new Error(`${name}: ${why}; ${recovery}`);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fail("not JSON");
  }
  const fields = (typeof parsed === "object" && parsed !== null ? parsed : {}) as Record<string, unknown>;
  if (fields.schema !== schema) return fail(`schema ${String(fields.schema)} is not ${String(schema)}`);
  return { fail, fields };
}
