// Steps of chosen manifests' paths through a region, each with its
// wall-clock time, for finding where the time goes: set
// DSC_TRACE to a piece of the ids to follow (namespace/name). Off by default,
// when a step costs one comparison. `npm run bench` follows one manifest
// through the three regions and prints the steps side by side.
import type { Logger } from "pino";

let sink: ((id: string, step: string, fields: Record<string, unknown> | undefined) => void) | undefined;

/** Logs the steps of ids that contain `pattern` (none when it is empty or unset). */
export function configureTrace(logger: Logger, pattern: string | undefined): void {
  if (pattern === undefined || pattern === "") {
    sink = undefined;
    return;
  }
  // Logged whatever LOG_LEVEL says: asking for a trace is asking for these lines.
  const log = logger.child({ component: "trace" }, { level: "info" });
  sink = (id, step, fields) => {
    if (!id.includes(pattern)) return;
    // Wall-clock milliseconds: the regions of one machine share the clock. Not timeOrigin plus
    // performance.now(): timeOrigin is taken once per process, and a slewed clock left two
    // processes' readings 325 ms apart in a bench run.
    log.info({ trace: id, step, at: Date.now(), ...fields }, "trace");
  };
}

/** Whether any step is traced: a caller that must build an id or walk a message to trace checks first. */
export const tracing = (): boolean => sink !== undefined;

export function trace(id: string, step: string, fields?: Record<string, unknown>): void {
  sink?.(id, step, fields);
}
