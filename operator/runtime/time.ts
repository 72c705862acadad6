// The API's two timestamp forms. Both are RFC 3339 in UTC; they differ in
// precision, and the API server is strict about MicroTime's.

/** metav1.Time: whole seconds, e.g. 2026-11-22T06:08:00Z. */
export function metaTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, "Z");
}

/**
 * metav1.MicroTime: exactly six fractional digits, or the API server refuses
 * the object. A Date has milliseconds, so the last three digits are zeros:
 * 2026-11-22T06:08:00.123000Z (a plain toISOString() has three and is refused).
 */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
