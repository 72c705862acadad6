// Two controllers write a Federation's status, each under its own field
// manager: the Federation controller (reconciler.ts) and the pause-status
// controller (pause-status.ts), which owns status.guardian and the Paused
// condition. Each leaves the other's fields out of what it applies and of
// what it compares, or the two would undo each other's writes.
import type { FederationStatus } from "../api/v1alpha1/federation.ts";

/** The condition the pause-status controller owns. */
export const PAUSED_CONDITION = "Paused";

/** `status` without the pause-status controller's fields. */
export function withoutPauseFields(status: FederationStatus): Omit<FederationStatus, "guardian"> {
  const rest: Partial<FederationStatus> = { ...status };
  delete rest.guardian;
  if (rest.conditions) rest.conditions = rest.conditions.filter((c) => c.type !== PAUSED_CONDITION);
  return rest;
}
