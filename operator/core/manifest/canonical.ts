// Canonical JSON (the RFC 8785 subset that Kubernetes objects use): object
// keys sorted by code unit, no whitespace, integers only. Two objects that
// mean the same have one text, so one digest; anything JSON cannot say
// exactly (NaN, fractions, undefined, functions, cycles) is refused rather
// than silently dropped, because a dropped field is an unapproved change.

export class CanonicalError extends Error {
  override name = "CanonicalError";
}

export function canonicalJson(value: unknown, path = "$", seen: Set<object> = new Set()): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isSafeInteger(value)) {
        throw new CanonicalError(
          `${path}: ${String(value)} is not an integer JSON can carry exactly; quote it`,
        );
      }
      return String(value);
    case "object": {
      if (seen.has(value)) throw new CanonicalError(`${path}: refers to itself`);
      seen.add(value);
      let text: string;
      if (Array.isArray(value)) {
        text = `[${value.map((item, i) => canonicalJson(item, `${path}[${String(i)}]`, seen)).join(",")}]`;
      } else {
        const record = value as Record<string, unknown>;
        const keys = Object.keys(record).sort();
        text = `{${keys
          .filter((k) => record[k] !== undefined)
          .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k], `${path}.${k}`, seen)}`)
          .join(",")}}`;
      }
      seen.delete(value);
      return text;
    }
    default:
      throw new CanonicalError(`${path}: a ${typeof value} has no JSON form`);
  }
}
