// Builds this region's witnessing: a witness of the peers' logs, the client
// that has this region's log cosigned by them, and the peer messages that
// carry both. Keys come from the Federation's pins (peers[].logKey), read
// anew at each use, so a change of pin takes effect at the next request.
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import { cosignatureVerifier, witnessName } from "../core/tlog/checkpoint.ts";
import { ED25519, noteSigner, noteVerifier, parseVkey, type Verifier } from "../core/tlog/note.ts";
import type { SplitView } from "../core/tlog/witness.ts";
import type { CurrentFederation } from "../federation/context.ts";
import type { ReceiptLog } from "../receipts/receipt-log.ts";
import { errorMessage } from "../runtime/errors.ts";
import { join } from "node:path";
import type { LogDiscrepancy } from "../core/tlog/anchor.ts";
import { Anchoring } from "./anchoring.ts";
import { WARNING_KINDS, Warnings } from "./warnings.ts";
import { TRUSTED_POLL_MS, TrustedLogs, type TrustedDiscrepancy } from "./trusted.ts";
import { RECEIPT_WINDOW_MS, throttled } from "../receipts/throttled.ts";
import { Cosigning, type WitnessPeer } from "./cosigning.ts";
import { Mirrors } from "./mirrors.ts";
import { checkOwnCheckpoint } from "./own-log.ts";
import { WitnessRpc, type WitnessChannel } from "./rpc.ts";
import { Witness } from "./witness.ts";

/** How often a log checks whether a peer has fallen behind in cosigning it. */
const CATCH_UP_MS = 2000;

interface WitnessingOptions {
  readonly stateDir: string;
  /** The disk the copy of each peer's log may take. */
  readonly mirrorMaxBytes?: number;
  readonly receipts: ReceiptLog;
  readonly seed: Uint8Array;
  readonly channel: WitnessChannel & { status(): readonly { region: string; connected: boolean }[] };
  readonly current: CurrentFederation;
  /** A critical discrepancy found (a split view, an invalid anchor): the evidence, and whose log it is. */
  readonly discrepancy: (found: LogDiscrepancy, region: string) => void;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly now: () => number;
}

interface Pinned {
  readonly region: string;
  readonly log: Verifier;
  readonly witness: Verifier;
}

export async function setupWitnessing(o: WitnessingOptions) {
  const log = o.logger.child({ component: "witness" });
  const discrepancies = new Counter({
    name: "dsc_log_discrepancies_total",
    help: "Discrepancies found in the logs this region knows (kind: root_mismatch, anchor_invalid, timestamp_drift, schema_incompatible, sample_missing; log: whose log)",
    labelNames: ["kind", "log"],
    registers: [o.registry],
  });
  const splitView = (split: SplitView, region: string): void => {
    discrepancies.inc({ kind: split.kind, log: region });
    log.error(
      { kind: split.kind, log: region, size: split.size },
      "split view: a log signed two checkpoints that cannot both be true",
    );
    o.discrepancy(split, region);
  };
  // The pins are read from the Federation in force, and parsed once per Federation: the
  // witness asks for them at every request.
  let parsed: { readonly from: unknown; readonly pins: Pinned[] } | undefined;
  const pinned = (): Pinned[] => {
    const context = o.current.get();
    if (parsed && parsed.from === context) return parsed.pins;
    const pins = parsePins(context?.spec.peers ?? []);
    parsed = { from: context, pins };
    // Every log this region judges has its discrepancy series from the start, at 0, so that
    // increase() and the alerts see the first one.
    for (const region of [o.receipts.region, ...pins.map((p) => p.region)])
      for (const kind of ["root_mismatch", "anchor_invalid", ...WARNING_KINDS])
        discrepancies.inc({ kind, log: region }, 0);
    return pins;
  };
  const parsePins = (peers: readonly { region: string; logKey?: string | undefined }[]): Pinned[] =>
    peers.flatMap((p) => {
      if (!p.logKey) return [];
      try {
        const vkey = parseVkey(p.logKey, `peers[${p.region}].logKey`);
        if (vkey.type !== ED25519) return [];
        return [
          {
            region: p.region,
            log: noteVerifier(vkey.name, vkey.publicKey),
            witness: cosignatureVerifier(witnessName(vkey.name), vkey.publicKey),
          },
        ];
      } catch (error) {
        log.warn({ peer: p.region, err: errorMessage(error) }, "a peer's pinned log key is unusable");
        return [];
      }
    });
  const warnings = new Warnings({ counter: discrepancies, receipts: o.receipts, logger: log, now: o.now });
  const regionOf = (origin: string): string => pinned().find((p) => p.log.name === origin)?.region ?? origin;
  const origin = o.receipts.log.checkpoint.origin;
  const own = { signer: noteSigner(origin, o.seed), verifier: noteVerifier(origin, o.receipts.publicKey) };
  const connected = (): string[] =>
    o.channel
      .status()
      .filter((p) => p.connected)
      .map((p) => p.region);

  // The witness gossips through the RPC built after it, and cosigns the logs of other
  // federations that the trusted logs (built after it) attest.
  const late: { rpc?: WitnessRpc; trusted?: TrustedLogs } = {};
  // The witness asks at every request: the keys are parsed again only when the list changes.
  let attestedKeys: { readonly of: string; readonly list: { name: string; verifier: Verifier }[] } = {
    of: "[]",
    list: [],
  };
  const attested = (): readonly { readonly name: string; readonly verifier: Verifier }[] => {
    const logs = late.trusted?.attested() ?? [];
    const of = JSON.stringify(logs.map((l) => [l.name, l.vkey]));
    if (of !== attestedKeys.of)
      attestedKeys = {
        of,
        list: logs.flatMap((l) => {
          try {
            const vkey = parseVkey(l.vkey);
            return vkey.type === ED25519
              ? [{ name: l.name, verifier: noteVerifier(vkey.name, vkey.publicKey) }]
              : [];
          } catch {
            return []; // an unusable key attests nothing, and breaks nothing else
          }
        }),
      };
    return attestedKeys.list;
  };
  // Another federation holds its own key and can fork its log at will: recorded once per log in
  // the window, and the log is no longer cosigned (trusted.ts marks it Inconsistent).
  const recordTrusted = throttled(o.receipts, RECEIPT_WINDOW_MS, o.now);
  const trustedDiscrepancy = (found: TrustedDiscrepancy): void => {
    discrepancies.inc({ kind: "trusted_inconsistent", log: `trust/${found.name}` });
    late.trusted?.inconsistent(found.name, found.message);
    recordTrusted(found.name, "discrepancy", found.origin, {
      ...found.evidence,
      kind: "trusted_inconsistent",
      trusted: found.name,
      message: found.message.slice(0, 512),
    });
  };
  const witness = await Witness.open({
    stateDir: o.stateDir,
    name: witnessName(origin),
    seed: o.seed,
    logs: () =>
      new Map([...attested().map((a) => a.verifier), ...pinned().map((p) => p.log)].map((v) => [v.name, v])),
    splitView: (split) => {
      // Another federation's log forked: alerted and recorded, but it pauses nothing here.
      const other = attested().find((a) => a.verifier.name === split.origin);
      if (other && !pinned().some((p) => p.log.name === split.origin))
        trustedDiscrepancy({
          name: other.name,
          origin: split.origin,
          message: `two checkpoints of size ${String(split.size)} with different roots`,
          evidence: { kind: split.kind, checkpoints: [...split.checkpoints] },
        });
      else splitView(split, regionOf(split.origin));
    },
    // What this region cosigned goes to every peer: a log showing another a different tree is caught.
    cosigned: (note) => {
      for (const peer of connected()) late.rpc?.gossip(peer, note);
    },
    registry: o.registry,
    logger: log,
    now: o.now,
  });
  const rpc = new WitnessRpc({
    channel: o.channel,
    read: (path, skip) =>
      path === "checkpoint"
        ? Promise.resolve(skip === 0 ? new TextEncoder().encode(o.receipts.log.checkpoint.note) : undefined)
        : o.receipts.log.readTile(path, skip),
    answer: (body) => witness.addCheckpoint(body),
    gossiped: (_peer, note) => {
      witness.seen(note);
      checkOwnCheckpoint(note, o.receipts.log, own).then(
        (split) => {
          if (split) splitView(split, o.receipts.region);
        },
        (error: unknown) => {
          log.debug({ err: errorMessage(error) }, "gossiped checkpoint of this log refused");
        },
      );
    },
    logger: log,
  });
  late.rpc = rpc;
  const cosigning = new Cosigning({
    log: o.receipts.log,
    peers: (): WitnessPeer[] => pinned().map((p) => ({ region: p.region, witness: p.witness })),
    request: (peer, body) => rpc.request(peer, body),
    registry: o.registry,
    logger: log,
    now: o.now,
    notice: warnings.notice,
  });
  // A peer behind (down, or connected after the last checkpoint) is asked again.
  const mirrors = new Mirrors({
    dir: join(o.stateDir, "mirrors"),
    ...(o.mirrorMaxBytes !== undefined ? { maxBytes: o.mirrorMaxBytes } : {}),
    fetch: (peer, path, skip) => rpc.fetch(peer, path, skip),
    registry: o.registry,
    logger: log,
    notice: warnings.notice,
    now: o.now,
  });
  const anchoring = new Anchoring({
    stateDir: o.stateDir,
    current: o.current,
    own: { region: o.receipts.region, log: o.receipts.log },
    peers: () => pinned().map((p) => ({ region: p.region, origin: p.log.name })),
    mirror: (region) => mirrors.get(region),
    held: (name) => witness.held().get(name),
    invalid: (evidence, region) => {
      discrepancies.inc({ kind: evidence.kind, log: region });
      o.discrepancy(evidence, region);
    },
    beyond: (anchored, size) => {
      discrepancies.inc({ kind: "anchor_invalid", log: o.receipts.region });
      log.error(
        { anchored, size },
        "anchor_invalid: this region's log is anchored beyond its own checkpoint (its anchoring key was used elsewhere, or the log was rolled back)",
      );
      void o.receipts.record("discrepancy", o.receipts.log.checkpoint.origin, {
        kind: "anchor_invalid",
        anchored,
        size,
        message: "anchored beyond this log's checkpoint",
      });
    },
    registry: o.registry,
    logger: log,
    now: o.now,
  });
  await anchoring.load();
  anchoring.start();
  const trusted = await TrustedLogs.open({
    stateDir: o.stateDir,
    current: o.current,
    witness,
    discrepancy: trustedDiscrepancy,
    registry: o.registry,
    logger: log,
    now: o.now,
  });
  late.trusted = trusted;
  const trustedTimer = setInterval(() => void trusted.tick(), TRUSTED_POLL_MS);
  trustedTimer.unref();
  pinned();
  const timer = setInterval(() => {
    cosigning.tick();
    for (const p of pinned()) mirrors.sync(p.region, p.log, witness.held().get(p.log.name));
  }, CATCH_UP_MS);
  timer.unref();
  return {
    witness,
    cosigning,
    mirrors,
    /** The vkey this region pins for `region`'s log, if any. */
    pinnedKey: (region: string): string | undefined =>
      o.current.get()?.spec.peers?.find((p) => p.region === region)?.logKey,
    anchoring,
    trusted,
    close: () => {
      clearInterval(timer);
      clearInterval(trustedTimer);
      anchoring.stop();
    },
    /** For the Federation's status.log. */
    status: () => {
      const iso = (ms: number) => new Date(ms).toISOString();
      const watched = trusted.status();
      const recent = warnings.recent();
      const anchors = anchoring.status();
      return {
        cosignedBy: cosigning.status().map((c) => ({ region: c.region, size: c.size, at: iso(c.at) })),
        // The peers' logs only: another federation's log it attests shows under `trusted`.
        witnessed: pinned().flatMap((p) => {
          const h = witness.held().get(p.log.name);
          return h ? [{ region: p.region, size: h.size, at: iso(h.at) }] : [];
        }),
        mirrored: mirrors.status(),
        ...(watched.length > 0
          ? {
              trusted: watched.map(({ at, ...t }) => ({
                ...t,
                ...(at !== undefined ? { at: iso(at) } : {}),
              })),
            }
          : {}),
        ...(recent.length > 0 ? { warnings: recent.map((w) => ({ ...w, at: iso(w.at) })) } : {}),
        ...(anchors.length > 0
          ? {
              anchored: anchors.map((a) => ({
                region: a.region,
                size: a.size,
                ...(a.at !== undefined ? { at: iso(a.at * 1000) } : {}),
                state: a.state,
              })),
            }
          : {}),
      };
    },
  };
}
