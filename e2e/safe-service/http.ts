// HTTP plumbing of the Safe Transaction Service double: errors that carry
// their status, JSON bodies, a tiny router and DRF-style limit/offset pages.
import type { IncomingMessage, ServerResponse } from "node:http";

/** A refusal: status and a `detail` that says what is wrong, as DRF renders it. */
export class ServiceError extends Error {
  readonly status: number;
  constructor(status: number, detail: string) {
    super(detail);
    this.name = "ServiceError";
    this.status = status;
  }
}

export const badRequest = (detail: string): ServiceError => new ServiceError(400, detail);
export const notFound = (detail: string): ServiceError => new ServiceError(404, detail);
export const unprocessable = (detail: string): ServiceError => new ServiceError(422, detail);

/**
 * Runs `fn`, re-raising its 400s with `status`: the real service answers some
 * views' validation errors with 422 (proposals) and others with 400 (messages).
 */
export async function withStatus<T>(status: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ServiceError && err.status === 400) throw new ServiceError(status, err.message);
    throw err;
  }
}

const MAX_BODY_BYTES = 1 << 20;

/** The request body as a JSON object; an empty body is `{}`, as DRF reads it. */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new ServiceError(413, `Request body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw badRequest(`JSON parse error - ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badRequest("Invalid data. Expected a JSON object");
  }
  return body as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, body?: unknown): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

export interface Request {
  readonly method: string;
  readonly url: URL;
  readonly params: readonly string[];
  body(): Promise<Record<string, unknown>>;
}

export interface Reply {
  readonly status: number;
  readonly body?: unknown;
}

export type Handler = (req: Request) => Promise<Reply>;

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly handler: Handler;
}

/**
 * Matches paths below the API root. Django appends the missing trailing slash
 * with a redirect (api-kit asks for `/v1/about` without one); accepting both
 * spellings saves the round trip.
 */
export class Router {
  readonly #routes: Route[] = [];

  add(method: string, path: string, handler: Handler): this {
    const source = path.replace(/\{[a-z]+\}/gi, "([^/]+)").replace(/\/$/, "");
    this.#routes.push({ method, pattern: new RegExp(`^${source}/?$`), handler });
    return this;
  }

  match(method: string, path: string): { handler: Handler; params: string[] } | ServiceError {
    let pathKnown = false;
    for (const route of this.#routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      pathKnown = true;
      if (route.method === method)
        return { handler: route.handler, params: m.slice(1).map(decodeURIComponent) };
    }
    return pathKnown
      ? new ServiceError(405, `Method "${method}" not allowed.`)
      : notFound(`No route for ${method} ${path}`);
  }
}

export interface Page<T> {
  readonly count: number;
  readonly next: string | null;
  readonly previous: string | null;
  readonly results: readonly T[];
}

/** DRF ignores unparsable paging parameters rather than refusing them. */
function nonNegativeInt(url: URL, name: string): number | undefined {
  const raw = url.searchParams.get(name);
  return raw !== null && /^\d+$/.test(raw) ? Number(raw) : undefined;
}

/** DRF's LimitOffsetPagination: absolute next/previous links, limit capped at `maxLimit`. */
export function paginate<T>(url: URL, items: readonly T[], defaultLimit = 100, maxLimit = 200): Page<T> {
  const limit = Math.min(nonNegativeInt(url, "limit") ?? defaultLimit, maxLimit) || defaultLimit;
  const offset = nonNegativeInt(url, "offset") ?? 0;
  const link = (newOffset: number | undefined): string => {
    const target = new URL(url);
    target.searchParams.set("limit", String(limit));
    if (newOffset === undefined || newOffset <= 0) target.searchParams.delete("offset");
    else target.searchParams.set("offset", String(newOffset));
    return target.toString();
  };
  return {
    count: items.length,
    next: offset + limit < items.length ? link(offset + limit) : null,
    previous: offset > 0 ? link(offset - limit) : null,
    results: items.slice(offset, offset + limit),
  };
}

type SortKey<T> = (item: T) => bigint | number;

/**
 * Sorts by DRF `ordering` terms ("field" or "-field", comma-separated) among
 * `fields`; like DRF's OrderingFilter, unknown fields fall back to `fallback`.
 */
export function order<T>(
  url: URL,
  items: readonly T[],
  fields: Record<string, SortKey<T>>,
  fallback: string,
): T[] {
  const parse = (ordering: string): { key: SortKey<T>; sign: number }[] =>
    ordering.split(",").flatMap((term) => {
      const descending = term.startsWith("-");
      const key = fields[descending ? term.slice(1) : term];
      return key ? [{ key, sign: descending ? -1 : 1 }] : [];
    });
  const requested = parse(url.searchParams.get("ordering") ?? "");
  const terms = requested.length > 0 ? requested : parse(fallback);
  return [...items].sort((a, b) => {
    for (const { key, sign } of terms) {
      const [x, y] = [key(a), key(b)];
      if (x !== y) return x < y ? -sign : sign;
    }
    return 0;
  });
}
