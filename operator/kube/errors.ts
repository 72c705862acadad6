// Reading a failed API call, whichever client made it.
import { ApiError } from "./client.ts";

/**
 * The HTTP status of a failed API call, if it got that far. Besides the
 * operator's ApiError, it reads the status of errors from client-node (the
 * CLI, tests): its ApiException carries a numeric `code`, its watch errors a
 * `statusCode`. Node's system errors have string codes (`ECONNRESET`).
 */
export function httpStatus(err: unknown): number | undefined {
  if (err instanceof ApiError) return err.statusCode;
  if (!(err instanceof Error)) return undefined;
  if ("statusCode" in err && typeof err.statusCode === "number") return err.statusCode;
  if ("code" in err && typeof err.code === "number" && "body" in err) return err.code;
  return undefined;
}
