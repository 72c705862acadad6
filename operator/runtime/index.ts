// The operator's controller runtime: controller-runtime's model (informers,
// keyed work queues, reconcilers, leader election) on the operator's own API
// client (operator/kube).
export { Applier, applyBody, FIELD_MANAGER, type ApplyOptions } from "./apply.ts";
export {
  DEFAULT_BASE_DELAY_MS,
  DEFAULT_MAX_DELAY_MS,
  exponentialBackoff,
  ItemExponentialRateLimiter,
  type RateLimiter,
} from "./backoff.ts";
export {
  findCondition,
  isTrue,
  setCondition,
  type Condition,
  type ConditionInput,
  type ConditionStatus,
} from "./conditions.ts";
export {
  Controller,
  keysHandler,
  generationChanged,
  outcomeOf,
  type ControllerOptions,
  type Outcome,
  type ReconcileContext,
  type Reconciler,
  type Result,
} from "./controller.ts";
export {
  apiEventSink,
  EventRecorder,
  REPORTING_CONTROLLER,
  referenceTo,
  type EventInput,
  type EventObject,
  type EventRecorderOptions,
  type EventSeries,
  type EventSink,
  type ObjectReference,
  type ReferencedObject,
} from "./events.ts";
export { Informer, type EventHandler, type InformerOptions } from "./informer.ts";
export { objectKey, ownerKeys, ownKey, parseKey, type KeyMapper, type OwnerType } from "./keys.ts";
export {
  apiLeaseClient,
  decide,
  LeaderElector,
  type Decision,
  type DecisionInput,
  type Lease,
  type LeaseClient,
  type LeaderElectorOptions,
  type LeaseSpec,
} from "./leader.ts";
export { listJson, type ListQuery } from "./listing.ts";
export { httpStatus, RawApi, type ObjectHeader } from "./rawapi.ts";
export { metaTime, microTime } from "./time.ts";
export { WorkQueue, type WorkQueueOptions } from "./workqueue.ts";
