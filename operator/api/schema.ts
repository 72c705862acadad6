// A small schema builder: one definition gives the TypeScript type (Infer),
// the CRD's structural OpenAPI v3 schema with CEL rules (toOpenAPI), and a
// validator the operator runs on what it reads (validate), so the API server
// and the operator can never disagree on what a field means.

export interface OpenAPISchema {
  type?: "object" | "array" | "string" | "integer" | "boolean";
  description?: string;
  properties?: Record<string, OpenAPISchema>;
  required?: string[];
  items?: OpenAPISchema;
  enum?: readonly string[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
  "x-kubernetes-list-type"?: "set" | "atomic" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-embedded-resource"?: boolean;
  "x-kubernetes-validations"?: { rule: string; message: string; fieldPath?: string; reason?: string }[];
}

/** A validation failure, named by its JSON path like the API server names fields. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

export interface Schema<T> {
  readonly openapi: OpenAPISchema;
  /** Pushes every problem found under `path`; returns the value typed when none. */
  check(value: unknown, path: string, errors: FieldError[]): value is T;
  /** Adds a CEL rule the API server enforces (the operator's own checks stay in `check`). */
  rule(rule: string, message: string, fieldPath?: string): Schema<T>;
  describe(description: string): Schema<T>;
  withDefault(value: T): Schema<T>;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

function make<T>(openapi: OpenAPISchema, check: Schema<T>["check"]): Schema<T> {
  return {
    openapi,
    check,
    rule: (rule, message, fieldPath) =>
      make<T>(
        {
          ...openapi,
          "x-kubernetes-validations": [
            ...(openapi["x-kubernetes-validations"] ?? []),
            { rule, message, ...(fieldPath === undefined ? {} : { fieldPath }) },
          ],
        },
        check,
      ),
    describe: (description) => make<T>({ ...openapi, description }, check),
    withDefault: (value) => make<T>({ ...openapi, default: value }, check),
  };
}

const show = (value: unknown): string => {
  // JSON.stringify returns undefined for undefined and functions, whatever its type says.
  const text = (JSON.stringify(value) as string | undefined) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

export function string(
  options: {
    pattern?: RegExp;
    patternHelp?: string;
    minLength?: number;
    maxLength?: number;
    format?: string;
  } = {},
): Schema<string> {
  const openapi: OpenAPISchema = { type: "string" };
  if (options.pattern) openapi.pattern = options.pattern.source;
  if (options.minLength !== undefined) openapi.minLength = options.minLength;
  if (options.maxLength !== undefined) openapi.maxLength = options.maxLength;
  if (options.format) openapi.format = options.format;
  return make(openapi, (value, path, errors): value is string => {
    if (typeof value !== "string") {
      errors.push({ path, message: `must be a string, got ${show(value)}` });
      return false;
    }
    const before = errors.length;
    if (options.minLength !== undefined && value.length < options.minLength)
      errors.push({ path, message: `must be at least ${options.minLength} characters` });
    if (options.maxLength !== undefined && value.length > options.maxLength)
      errors.push({ path, message: `must be at most ${options.maxLength} characters` });
    if (options.pattern && !options.pattern.test(value))
      errors.push({
        path,
        message: `${show(value)} is not ${options.patternHelp ?? `matching ${options.pattern.source}`}`,
      });
    if (options.format === "date-time" && Number.isNaN(Date.parse(value)))
      errors.push({
        path,
        message: `${show(value)} is not an RFC 3339 date-time (e.g. 2026-12-31T00:00:00Z)`,
      });
    return errors.length === before;
  });
}

export function literal<const V extends readonly [string, ...string[]]>(...values: V): Schema<V[number]> {
  return make({ type: "string", enum: values }, (value, path, errors): value is V[number] => {
    if (typeof value === "string" && (values as readonly string[]).includes(value)) return true;
    errors.push({ path, message: `must be one of ${values.join(", ")}; got ${show(value)}` });
    return false;
  });
}

export function integer(options: { minimum?: number; maximum?: number } = {}): Schema<number> {
  const openapi: OpenAPISchema = { type: "integer" };
  if (options.minimum !== undefined) openapi.minimum = options.minimum;
  if (options.maximum !== undefined) openapi.maximum = options.maximum;
  return make(openapi, (value, path, errors): value is number => {
    if (typeof value !== "number" || !Number.isSafeInteger(value)) {
      errors.push({ path, message: `must be an integer, got ${show(value)}` });
      return false;
    }
    if (options.minimum !== undefined && value < options.minimum) {
      errors.push({ path, message: `must be at least ${options.minimum}, got ${value}` });
      return false;
    }
    if (options.maximum !== undefined && value > options.maximum) {
      errors.push({ path, message: `must be at most ${options.maximum}, got ${value}` });
      return false;
    }
    return true;
  });
}

export function boolean(): Schema<boolean> {
  return make({ type: "boolean" }, (value, path, errors): value is boolean => {
    if (typeof value === "boolean") return true;
    errors.push({ path, message: `must be true or false, got ${show(value)}` });
    return false;
  });
}

export function array<T>(
  items: Schema<T>,
  options: {
    minItems?: number;
    maxItems?: number;
    listType?: "set" | "atomic";
    mapKey?: keyof T & string;
  } = {},
): Schema<T[]> {
  const openapi: OpenAPISchema = { type: "array", items: items.openapi };
  if (options.minItems !== undefined) openapi.minItems = options.minItems;
  if (options.maxItems !== undefined) openapi.maxItems = options.maxItems;
  if (options.listType) openapi["x-kubernetes-list-type"] = options.listType;
  // A map-typed list: the API server itself refuses two items with one key.
  if (options.mapKey) {
    openapi["x-kubernetes-list-type"] = "map";
    openapi["x-kubernetes-list-map-keys"] = [options.mapKey];
  }
  return make(openapi, (value, path, errors): value is T[] => {
    if (!Array.isArray(value)) {
      errors.push({ path, message: `must be a list, got ${show(value)}` });
      return false;
    }
    const before = errors.length;
    if (options.minItems !== undefined && value.length < options.minItems)
      errors.push({ path, message: `must have at least ${options.minItems} item(s)` });
    if (options.maxItems !== undefined && value.length > options.maxItems)
      errors.push({ path, message: `must have at most ${options.maxItems} items` });
    value.forEach((item, i) => items.check(item, `${path}[${i}]`, errors));
    if (options.listType === "set" && new Set(value.map((v) => JSON.stringify(v))).size !== value.length)
      errors.push({ path, message: "must not repeat an item" });
    const key = options.mapKey;
    if (
      key &&
      new Set(value.map((v) => JSON.stringify((v as Record<string, unknown>)[key]))).size !== value.length
    )
      errors.push({ path, message: `must not list one ${key} twice` });
    return errors.length === before;
  });
}

type Fields = Record<string, Schema<unknown>>;
type OptionalKeys<F extends Fields> = { [K in keyof F]: F[K] extends Optional<unknown> ? K : never }[keyof F];
type ObjectType<F extends Fields> = { [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> } & {
  [K in OptionalKeys<F>]?: Infer<F[K]>;
};

/** Marks a field optional; it is left out of `required`. */
export interface Optional<T> extends Schema<T> {
  readonly optional: true;
}

export function optional<T>(schema: Schema<T>): Optional<T> {
  return { ...schema, optional: true };
}

export function object<F extends Fields>(fields: F): Schema<ObjectType<F>> {
  const required = Object.keys(fields).filter((k) => !("optional" in (fields[k] as object)));
  const properties = Object.fromEntries(Object.entries(fields).map(([k, s]) => [k, s.openapi]));
  const openapi: OpenAPISchema = { type: "object", properties };
  if (required.length > 0) openapi.required = required;
  return make(openapi, (value, path, errors): value is ObjectType<F> => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      errors.push({ path, message: `must be an object, got ${show(value)}` });
      return false;
    }
    const before = errors.length;
    const record = value as Record<string, unknown>;
    for (const [key, schema] of Object.entries(fields)) {
      const child = `${path}.${key}`;
      if (record[key] === undefined) {
        if (!("optional" in schema)) errors.push({ path: child, message: "is required" });
        continue;
      }
      schema.check(record[key], child, errors);
    }
    for (const key of Object.keys(record)) {
      if (!(key in fields)) errors.push({ path: `${path}.${key}`, message: "is not a known field" });
    }
    return errors.length === before;
  });
}

/** A free-form object kept as written (embedded Kubernetes objects). */
export function embeddedResource(): Schema<Record<string, unknown>> {
  return make(
    {
      type: "object",
      "x-kubernetes-preserve-unknown-fields": true,
      "x-kubernetes-embedded-resource": true,
    },
    (value, path, errors): value is Record<string, unknown> => {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        errors.push({ path, message: `must be a Kubernetes object, got ${show(value)}` });
        return false;
      }
      const object = value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
      const before = errors.length;
      if (typeof object.apiVersion !== "string" || object.apiVersion === "")
        errors.push({ path: `${path}.apiVersion`, message: "is required (e.g. apps/v1)" });
      if (typeof object.kind !== "string" || object.kind === "")
        errors.push({ path: `${path}.kind`, message: "is required (e.g. Deployment)" });
      if (typeof object.metadata?.name !== "string" || object.metadata.name === "")
        errors.push({ path: `${path}.metadata.name`, message: "is required" });
      return errors.length === before;
    },
  );
}

/** Validates `value` against `schema`; throws one error listing every problem. */
export function parse<T>(schema: Schema<T>, value: unknown, what: string): T {
  const errors: FieldError[] = [];
  if (schema.check(value, what, errors)) return value;
  throw new ValidationError(errors);
}

export class ValidationError extends Error {
  readonly errors: readonly FieldError[];
  constructor(errors: readonly FieldError[]) {
    super(errors.map((e) => `${e.path}: ${e.message}`).join("; "));
    this.name = "ValidationError";
    this.errors = errors;
  }
}
