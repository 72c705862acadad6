// The API's two timestamp forms. Both are RFC 3339 in UTC; they differ in
// precision, and the API server is strict about MicroTime's.
import { V1MicroTime } from "@kubernetes/client-node";

/** metav1.Time: whole seconds. */
export function metaTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, "Z");
}

/**
 * metav1.MicroTime: exactly six fractional digits, or the API server refuses
 * the object. A plain Date serializes with three, which is why client-node
 * has V1MicroTime (yet hands MicroTime fields back as bare strings).
 */
export function microTime(date: Date): string {
  return new V1MicroTime(date.getTime()).toISOString();
}
