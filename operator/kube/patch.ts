// The Content-Type of a PATCH says how the API server reads its body.

/** Server-side apply: the body is the fields the field manager owns (JSON is YAML). */
export const APPLY_PATCH = "application/apply-patch+yaml";
/** RFC 6902: a list of operations. */
export const JSON_PATCH = "application/json-patch+json";
