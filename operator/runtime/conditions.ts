// metav1.Condition lists, as pure functions (apimachinery's meta.SetStatusCondition).
// lastTransitionTime records when the status last changed, not when the
// condition was last written: a reconcile that finds nothing new must leave
// it, so "Ready since" stays true and a status write can be skipped.
import { metaTime } from "./time.ts";

export type ConditionStatus = "True" | "False" | "Unknown";

/** metav1.Condition as it appears in a custom resource's JSON status. */
export interface Condition {
  readonly type: string;
  readonly status: ConditionStatus;
  /** CamelCase, machine-readable: why the condition is in this status. */
  readonly reason: string;
  readonly message: string;
  /** The .metadata.generation this condition was computed from. */
  readonly observedGeneration?: number;
  /** RFC 3339, second precision, as metav1.Time serializes. */
  readonly lastTransitionTime: string;
}

export type ConditionInput = Omit<Condition, "lastTransitionTime">;

// The API server's validation of metav1.Condition (a CRD that embeds it rejects anything else).
const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const TYPE =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const STATUSES: readonly string[] = ["True", "False", "Unknown"];

function validate(input: ConditionInput): void {
  if (!TYPE.test(input.type) || input.type.length > 316)
    throw new Error(`invalid condition type "${input.type}"`);
  if (!STATUSES.includes(input.status)) throw new Error(`invalid condition status "${input.status}"`);
  if (!REASON.test(input.reason) || input.reason.length > 1024) {
    throw new Error(`invalid condition reason "${input.reason}": CamelCase, starting with a letter`);
  }
  if (input.message.length > 32768) throw new Error(`condition message longer than 32768 characters`);
  if (input.observedGeneration !== undefined && input.observedGeneration < 0) {
    throw new Error(`negative observedGeneration`);
  }
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "True";
}

/**
 * Sets one condition in a list, leaving the others and their order alone.
 * lastTransitionTime becomes `now` only for a new condition or a changed
 * status. Returns the very same array when nothing changed, so callers can
 * tell with `===` whether a status update is needed.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date,
): readonly Condition[] {
  validate(input);
  const list = conditions ?? [];
  const index = list.findIndex((c) => c.type === input.type);
  const existing = list[index];
  if (!existing) return [...list, condition(input, metaTime(now))];
  const next = condition(
    input,
    existing.status === input.status ? existing.lastTransitionTime : metaTime(now),
  );
  if (sameCondition(existing, next)) return list;
  return list.map((c, i) => (i === index ? next : c));
}

// Only the fields of metav1.Condition, whatever else the input object carries.
function condition(input: ConditionInput, lastTransitionTime: string): Condition {
  return {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message,
    ...(input.observedGeneration !== undefined && { observedGeneration: input.observedGeneration }),
    lastTransitionTime,
  };
}

function sameCondition(a: Condition, b: Condition): boolean {
  return (
    a.type === b.type &&
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.observedGeneration === b.observedGeneration &&
    a.lastTransitionTime === b.lastTransitionTime
  );
}
