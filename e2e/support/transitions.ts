// One transition as one change, for tests that write a document step by step.
// The operator batches a reconcile pass's writes into one change (batch in
// operator/state/transitions.ts); these single-step forms are the tests' own.
import type { StateDoc } from "../../operator/state/document.ts";
import type {
  AppliedInput,
  Approval,
  ManifestVersion,
  Member,
  PauseRecord,
  ResumeInput,
} from "../../operator/state/model.ts";
import { batch } from "../../operator/state/transitions.ts";

export const submit = (doc: StateDoc, s: ManifestVersion): StateDoc =>
  batch(doc, (d) => d.submit(s), s.submittedAt);

export const approve = (doc: StateDoc, digest: string, approvals: readonly Approval[]): StateDoc =>
  batch(doc, (d) => d.approve(digest, approvals));

export const recordApplied = (doc: StateDoc, a: AppliedInput): StateDoc =>
  batch(doc, (d) => d.recordApplied(a), a.at);

export const setMember = (doc: StateDoc, m: Member): StateDoc => batch(doc, (d) => d.setMember(m));

export const removeMember = (doc: StateDoc, region: string): StateDoc =>
  batch(doc, (d) => d.removeMember(region));

export const pause = (doc: StateDoc, p: PauseRecord): StateDoc => batch(doc, (d) => d.pause(p), p.at);

export const resume = (doc: StateDoc, r: ResumeInput): StateDoc => batch(doc, (d) => d.resume(r), r.at);
