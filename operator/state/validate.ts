// What a peer's change may do to the federation document, checked on the
// change's patches (A.diff) before the document is kept, persisted or passed
// on. A change that breaks the layout (the root is fixed at genesis; every
// record is a key of a known form in its own map, with a value of its type)
// is refused whole. The document's layout is in document.ts.
import * as A from "@automerge/automerge";
import { MAX_INLINE_SIGNATURES } from "../api/v1alpha1/consortium-manifest.ts";
import { allBuckets, bucketOf, type StateDoc } from "./document.ts";
import { approvals, versionRecords } from "./readers.ts";
import {
  checkAddress,
  checkDigest,
  checkHex,
  checkId,
  checkPauseSource,
  checkPauseToken,
  checkReason,
  checkRegion,
  checkSafe,
  checkState,
  checkTime,
  checkToken,
  StateInputError,
} from "./model.ts";

/**
 * How much a peer may make a region hold. A version record is one region's
 * submission of one version of a manifest: a thousand updates of a manifest
 * submitted by three regions, before superseded versions are collected;
 * approvals per version match what a spec may carry inline (spec.signatures,
 * maxItems 64); pauses and resumes are a handful a year.
 */
export const BOUNDS = {
  versionRecordsPerManifest: 3000,
  approvalsPerVersion: MAX_INLINE_SIGNATURES,
  pauseRecords: 10_000,
  resumeRecords: 10_000,
  members: 16,
} as const;

/** Longest key accepted: a pause record's, with a 256-character reason, is well under it. */
export const MAX_KEY_LENGTH = 1024;
const BUCKETS = new Set(allBuckets());
const MEMBER_FIELDS = new Set(["dsp", "safe", "endpoint", "fingerprint"]);

class Refused extends Error {}
const refuse = (why: string): never => {
  throw new Refused(why);
};
const ensure = (ok: boolean, why: string): void => {
  if (!ok) refuse(why);
};
/** A check from model.ts that must also find the text already in its one canonical form. */
const canonical = (check: (s: string) => string, text: string): void => {
  ensure(check(text) === text, `${JSON.stringify(text)} is not in canonical form`);
};
const nonce = (text: string): void => {
  const n = Number(text);
  ensure(
    /^\d+$/.test(text) && Number.isSafeInteger(n) && String(n) === text,
    `nonce ${JSON.stringify(text)}`,
  );
};
const timeValue = (value: unknown): void => {
  ensure(typeof value === "number", `value ${JSON.stringify(value)} is not a time`);
  checkTime(value as number);
};
const words = (key: string, count: number): string[] => {
  const parts = key.split(" ");
  ensure(
    parts.length === count,
    `key ${JSON.stringify(key.slice(0, 80))} has ${String(parts.length)} words, not ${String(count)}`,
  );
  return parts;
};

/** Why the patches break the document's layout, or undefined when they keep it. */
export function layoutViolation(patches: readonly A.Patch[]): string | undefined {
  try {
    for (const patch of patches) checkPatch(patch);
    return undefined;
  } catch (error) {
    if (error instanceof Refused || error instanceof StateInputError) return error.message;
    throw error;
  }
}

/**
 * Why `doc`, after a peer's change whose patches these are, holds more than
 * BOUNDS allows where the change wrote, or undefined. Only what the change
 * touched is counted, so a change costs in proportion to its own size.
 */
export function boundsViolation(doc: StateDoc, patches: readonly A.Patch[]): string | undefined {
  const ids = new Set<string>();
  const digests = new Set<string>();
  let pauses = false;
  let resumed = false;
  let members = false;
  for (const patch of patches) {
    if (patch.action !== "put" && patch.action !== "conflict") continue;
    const [map, , key] = patch.path;
    if (map === "versions" && typeof key === "string") ids.add(key.split(" ")[0] ?? "");
    else if (map === "approvals" && typeof key === "string") digests.add(key.split(" ")[0] ?? "");
    else if (map === "pauses") pauses = true;
    else if (map === "resumed") resumed = true;
    else if (map === "members") members = true;
  }
  for (const id of ids) {
    const n = versionRecords(doc, id);
    if (n > BOUNDS.versionRecordsPerManifest)
      return `${String(n)} version records of ${id}: at most ${String(BOUNDS.versionRecordsPerManifest)}`;
  }
  for (const digest of digests) {
    const n = approvals(doc, digest).length;
    if (n > BOUNDS.approvalsPerVersion)
      return `${String(n)} approvals of ${digest}: at most ${String(BOUNDS.approvalsPerVersion)}`;
  }
  const count = (what: string, n: number, max: number): string | undefined =>
    n > max ? `${String(n)} ${what}: at most ${String(max)}` : undefined;
  return (
    (pauses ? count("pause records", Object.keys(doc.pauses).length, BOUNDS.pauseRecords) : undefined) ??
    (resumed ? count("resume records", Object.keys(doc.resumed).length, BOUNDS.resumeRecords) : undefined) ??
    (members ? count("members", Object.keys(doc.members).length, BOUNDS.members) : undefined)
  );
}

function checkPatch(patch: A.Patch): void {
  const path = patch.path;
  const where = path.map(String).join("/").slice(0, 120);
  // A conflict is two regions writing one key at once (an approval both recorded): its key is
  // checked like a put's; the value read is the winner's, itself checked when it was put.
  const conflict = patch.action === "conflict";
  ensure(
    patch.action === "put" || patch.action === "del" || conflict,
    `${patch.action} at ${where}: only put and del`,
  );
  const [map, second, third, ...deeper] = path;
  ensure(path.length >= 2, `${where}: the document's root is fixed at genesis`);
  ensure(
    typeof second === "string" && (third === undefined || typeof third === "string"),
    `${where}: not a map key`,
  );
  const put = patch.action === "put" || conflict;
  const value = patch.action === "put" ? patch.value : undefined;
  const time = (v: unknown): void => {
    if (!conflict) timeValue(v);
  };
  switch (map) {
    case "versions":
    case "approvals":
    case "applied": {
      ensure(path.length === 3 && BUCKETS.has(second as string), `${where}: records live in a bucket`);
      const key = third as string;
      ensure(key.length <= MAX_KEY_LENGTH, `${where}: key longer than ${String(MAX_KEY_LENGTH)}`);
      if (map === "versions") {
        ensure(put, `${where}: versions are never deleted`);
        const [id = "", n = "", digest = "", region = ""] = words(key, 4);
        checkId(id);
        nonce(n);
        canonical(checkDigest, digest);
        checkRegion(region);
        ensure(bucketOf(id) === second, `${where}: in the wrong bucket`);
        time(value);
      } else if (map === "approvals") {
        ensure(put, `${where}: approvals are never deleted`);
        const [digest = "", safe = "", data = ""] = words(key, 3);
        canonical(checkDigest, digest);
        checkSafe(safe);
        canonical(checkHex, data);
        ensure(bucketOf(digest) === second, `${where}: in the wrong bucket`);
        ensure(conflict || value === true, `${where}: an approval's value is true`);
      } else {
        const [id = "", region = "", n = "", digest = "", state = ""] = words(key, 5);
        checkId(id);
        checkRegion(region);
        nonce(n);
        canonical(checkDigest, digest);
        checkState(state);
        ensure(bucketOf(id) === second, `${where}: in the wrong bucket`);
        if (put) time(value); // a region replaces its own record: a delete of the older key
      }
      return;
    }
    case "members": {
      checkRegion(second as string);
      if (third === undefined) {
        // A member is put whole (an empty map, then its fields) or removed.
        ensure(
          !put ||
            conflict ||
            (typeof value === "object" && value !== null && Object.keys(value).length === 0),
          `${where}: a member is a map`,
        );
        return;
      }
      const field = String(third);
      ensure(put && deeper.length === 0 && MEMBER_FIELDS.has(field), `${where}: not a member field`);
      // Member fields are ImmutableStrings: their text is what toString gives.
      const text = typeof value === "string" ? value : value instanceof A.ImmutableString ? value.val : "";
      ensure(text.length > 0 && text.length <= 512, `${where}: 1 to 512 characters`);
      if (field === "safe") checkAddress(text);
      else checkToken(text, field);
      return;
    }
    case "pauses": {
      ensure(path.length === 2, `${where}: a pause is one key`);
      const key = second as string;
      ensure(key.length <= MAX_KEY_LENGTH, `${where}: key longer than ${String(MAX_KEY_LENGTH)}`);
      // Deletes came from resumes of older releases; each region's pause ledger keeps what it saw.
      if (!put) return;
      const [token = "", region = "", source = "", by = "", dsp = "", severity = "", evidence = ""] =
        key.split(" ", 7);
      const reason = key.split(" ").slice(7).join(" ");
      checkPauseToken(token);
      checkRegion(region);
      checkPauseSource(source);
      checkToken(by, "pause by");
      checkToken(dsp, "pause dsp");
      checkToken(severity, "severity");
      canonical(checkDigest, evidence);
      checkReason(reason);
      time(value);
      return;
    }
    case "resumed": {
      ensure(path.length === 2 && put, `${where}: resume records are never deleted`);
      const key = second as string;
      ensure(key.length <= MAX_KEY_LENGTH, `${where}: key longer than ${String(MAX_KEY_LENGTH)}`);
      const [token = "", manifest = "", region = ""] = words(key, 3);
      checkPauseToken(token);
      checkId(manifest);
      checkRegion(region);
      time(value);
      return;
    }
    default:
      refuse(`${where}: the document has no map ${JSON.stringify(map)}`);
  }
}
