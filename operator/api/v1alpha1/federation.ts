// Federation: this cluster's place in the federation (cluster-scoped, one per
// cluster). Its name is the federation's id, which every approval binds to.
import { array, boolean, integer, literal, object, optional, string, type Infer } from "../schema.ts";
import { address, bytes32, condition, region, secretKeyRef, tier } from "./fields.ts";

/** What a pause does to managed workloads, besides stopping every apply. */
export const PAUSE_ACTIONS = ["Freeze", "ScaleToZero", "DenyAll"] as const;
export type PauseAction = (typeof PAUSE_ACTIONS)[number];

const approvals = (dsp: number, board: number) =>
  object({
    dspApprovals: integer({ minimum: 1, maximum: 16 }).describe(
      "Distinct DSP owners of the Consortium Safe.",
    ),
    boardApprovals: integer({ minimum: 0, maximum: 16 }).describe("Distinct owners of the DAO Board Safe."),
  }).withDefault({ dspApprovals: dsp, boardApprovals: board });

/** The seeds' tiers: critical 3 of 3 DSPs + 1 Board owner; upgrade 2 of 3; operational 1 of 3. */
export const DEFAULT_TIERS = {
  critical: { dspApprovals: 3, boardApprovals: 1 },
  upgrade: { dspApprovals: 2, boardApprovals: 0 },
  operational: { dspApprovals: 1, boardApprovals: 0 },
} as const;

const tierPolicy = object({
  critical: approvals(DEFAULT_TIERS.critical.dspApprovals, DEFAULT_TIERS.critical.boardApprovals),
  upgrade: approvals(DEFAULT_TIERS.upgrade.dspApprovals, DEFAULT_TIERS.upgrade.boardApprovals),
  operational: approvals(DEFAULT_TIERS.operational.dspApprovals, DEFAULT_TIERS.operational.boardApprovals),
})
  .rule(
    "self.critical.dspApprovals >= self.upgrade.dspApprovals && self.upgrade.dspApprovals >= self.operational.dspApprovals",
    "tiers must not weaken upwards: critical.dspApprovals >= upgrade.dspApprovals >= operational.dspApprovals",
  )
  .withDefault(DEFAULT_TIERS);

const localApprovals = object({
  dspApprovals: integer({ minimum: 1, maximum: 16 }).describe("Distinct DSP owners of the Consortium Safe."),
  boardApprovals: integer({ minimum: 0, maximum: 16 }).describe("Distinct owners of the DAO Board Safe."),
});

/**
 * A region's own tiers: stricter than the federation's, tier by tier, or
 * nothing. No defaults: a tier left out follows the federation's policy.
 */
const localTiers = object({
  critical: optional(localApprovals),
  upgrade: optional(localApprovals),
  operational: optional(localApprovals),
});

/** Blocks behind the head: past the one- and two-block reorganisations an Ethereum chain sees. */
export const DEFAULT_CONFIRMATIONS = 2;

export const federationSpec = object({
  region: region().describe("This cluster's region, e.g. alpha."),
  dsp: object({
    name: string({ minLength: 1, maxLength: 63 }).describe("The DSP that runs this cluster, e.g. DSP-1."),
    safe: address().describe("The DSP's own Safe, an owner of the Consortium Safe."),
  }),
  chain: object({
    chainId: integer({ minimum: 1 }),
    rpcUrlSecretRef: secretKeyRef().describe(
      "Secret holding the JSON-RPC URL (it often carries an API key).",
    ),
    confirmations: optional(
      integer({ minimum: 0, maximum: 1000 })
        .describe(
          "Blocks behind the head at which owners, approvals and pauses are read. A reorganisation shallower than this cannot change what was applied; a rotation or a new approval counts this many blocks later (2 is about 24 s on Ethereum). 0 only on a chain that never reorganises, such as a local anvil.",
        )
        .withDefault(DEFAULT_CONFIRMATIONS),
    ),
  }),
  consortiumSafe: address().describe("The Consortium Safe, whose owners are the DSP Safes."),
  daoBoardSafe: address().describe("The DAO Board Safe, needed for the critical tier."),
  agentRegistry: address().describe("The soulbound agent registry (ERC-5192) that says who may propose."),
  safeTransactionService: optional(
    object({
      url: string({ pattern: /^https?:\/\/\S+$/, patternHelp: "an http(s) URL" }).describe(
        "What Safe's api-kit takes as txServiceUrl: the hosted service's, e.g. https://api.safe.global/tx-service/eth/api, or your own's, e.g. https://safe-service.example/api.",
      ),
      apiKeySecretRef: optional(
        secretKeyRef().describe(
          "Secret holding the API key the hosted service asks for (from https://developer.safe.global), sent as api-kit sends it (Authorization: Bearer). Required for api.safe.global; a service of your own may need none.",
        ),
      ),
    }).describe("Optional transport for approvals; every signature it returns is re-verified on chain."),
  ),
  tiers: optional(
    localTiers.describe(
      "Makes this region stricter than the federation's policy, tier by tier; a tier left out, or a value below the federation's, follows the federation's. The federation's policy itself changes only by a critical manifest whose action is policy.",
    ),
  ),
  guardian: optional(
    object({
      pauseContract: address().describe(
        "The GuardianPause contract: guardians pause with evidence, only the DAO Board Safe unpauses.",
      ),
      action: optional(
        literal(...PAUSE_ACTIONS)
          .describe(
            "What a pause does to managed workloads besides stopping every apply: Freeze (nothing more), ScaleToZero (replica counts kept for the resume) or DenyAll (a deny-all NetworkPolicy in managed namespaces).",
          )
          .withDefault("Freeze"),
      ),
      maxReportAgeSeconds: optional(
        integer({ minimum: 10, maximum: 86_400 })
          .describe("Breach reports observed longer ago than this are refused as stale.")
          .withDefault(300),
      ),
      guardianKeySecretRef: optional(
        secretKeyRef().describe(
          "Secret holding the guardian key (0x + 64 hex) that records a pause raised here on chain. Without it, pauses stay off chain.",
        ),
      ),
      alertmanager: optional(
        object({
          tokenSecretRef: secretKeyRef().describe(
            "Secret holding the bearer token Alertmanager must send (http_config.authorization.credentials).",
          ),
          alerts: array(
            object({
              alertname: string({ minLength: 1, maxLength: 253 }),
              severities: optional(
                array(string({ minLength: 1, maxLength: 63 }), { maxItems: 8, listType: "set" }).describe(
                  "Severities of this alert that pause; all when omitted.",
                ),
              ),
            }),
            { minItems: 1, maxItems: 64 },
          ).describe("The firing alerts that raise a breach."),
        }),
      ),
    }).describe("The guardian pause: who may raise it and what it does here."),
  ),
  log: optional(
    object({
      anchor: optional(
        object({
          contract: address().describe(
            "The LogAnchor contract, owned by the Consortium Safe, where each region's log key and anchoring account are registered.",
          ),
          anchorKeySecretRef: optional(
            secretKeyRef().describe(
              "Secret holding the key (0x + 64 hex) of the account the Consortium Safe registered to anchor this region's log. Without it, this region checks the anchors of every log it knows and anchors none.",
            ),
          ),
          intervalSeconds: optional(
            integer({ minimum: 5, maximum: 86_400 })
              .describe(
                "How often this region anchors its latest checkpoint (when the log grew), and checks every known log's anchor against the log.",
              )
              .withDefault(600),
          ),
        }),
      ),
    }).describe("This region's decision log: where it is anchored on chain."),
  ),
  trust: optional(
    array(
      object({
        name: string({
          pattern: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
          patternHelp: "a DNS label naming the watched log, e.g. partner-eu",
        }),
        url: string({
          pattern: /^https?:\/\/\S+$/,
          maxLength: 2048,
          patternHelp:
            "the http(s) URL under which the log serves C2SP tlog-tiles, e.g. https://log.partner.example/log/",
        }),
        vkey: string({
          pattern: /^[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$/,
          maxLength: 512,
          patternHelp: "the log's C2SP verifier key, <name>+<id>+<base64 key>",
        }),
        level: literal("observe", "verify", "attest").describe(
          "observe: read its checkpoint; verify: also prove each new checkpoint consistent with the last one seen, and alert on a fork or a rewrite; attest: also cosign each consistent checkpoint with this region's witness.",
        ),
      }),
      { maxItems: 16, mapKey: "name" },
    ).describe(
      "Other federations' logs this region watches (the seeds' trust levels 1 to 3). What they show never pauses this federation.",
    ),
  ),
  peers: optional(
    array(
      object({
        region: region(),
        endpoint: string({
          pattern: /^[A-Za-z0-9.-]+:[0-9]{1,5}$/,
          maxLength: 260,
          patternHelp: "host:port of the peer's federation endpoint, e.g. dsc-beta.example.net:7443",
        }),
        certificateSha256: string({
          pattern: /^[0-9a-f]{64}$/,
          patternHelp: "the SHA-256 of the peer's certificate (DER), 64 lower-case hex digits",
        }).describe("The peer's identity: its TLS certificate, pinned. Any other certificate is refused."),
        logKey: optional(
          string({
            pattern: /^dsc\.federation\.dev\/[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$/,
            maxLength: 512,
            patternHelp: "the peer's log verifier key as its Federation status.log.vkey shows it",
          }).describe(
            "The peer's log key, pinned (C2SP vkey): this region witnesses the peer's log under it, and trusts the peer's cosignatures of this region's log under it. Without it, the two regions do not witness each other.",
          ),
        ),
      }),
      { maxItems: 16, mapKey: "region" },
    ).describe("The other regions' operators, which this one replicates the federation state with."),
  ),
}).rule(
  "!has(self.peers) || self.peers.all(p, p.region != self.region)",
  "a peer cannot be this region itself",
  ".peers",
);

export const federationStatus = object({
  observedGeneration: optional(integer({ minimum: 0 })),
  chain: optional(
    object({
      block: integer({ minimum: 0 }),
      readAt: string({ format: "date-time" }),
      consortiumOwners: array(address(), { maxItems: 64 }),
      consortiumThreshold: integer({ minimum: 0 }),
      boardOwners: array(address(), { maxItems: 64 }),
      boardThreshold: integer({ minimum: 0 }),
    }),
  ),
  peers: optional(
    array(
      object({
        region: region(),
        connected: boolean(),
        lastHeard: optional(string({ format: "date-time" })),
        rttMilliseconds: optional(integer({ minimum: 0 })),
        changesPending: optional(integer({ minimum: 0 })),
        protocol: optional(
          integer({ minimum: 0 }).describe(
            "The protocol version spoken with the peer: the highest both speak.",
          ),
        ),
        incompatible: optional(
          string({ maxLength: 512 }).describe(
            "Why the peer was last refused for its protocol versions, naming both sides' (until it connects).",
          ),
        ),
      }),
      { maxItems: 16 },
    ),
  ),
  /** e.g. "beta ✓ gamma ✗", for the kubectl column. */
  peerSummary: optional(string({ maxLength: 256 })),
  document: optional(
    object({
      bytes: integer({ minimum: 0 }),
      manifests: integer({ minimum: 0 }),
      epoch: optional(
        integer({ minimum: 0 }).describe(
          "Which history of the federation state this region syncs: a rebase, once the document has grown, starts the next.",
        ),
      ),
    }),
  ),
  log: optional(
    object({
      origin: string({ maxLength: 256 }).describe("The log's origin line and key name."),
      vkey: string({ maxLength: 512 }).describe(
        "The log's verifier key (C2SP signed-note): what a witness or `dsc log verify` trusts.",
      ),
      size: integer({ minimum: 0 }).describe("Receipts in the log at its latest checkpoint."),
      root: string({ maxLength: 64 }).describe("The latest checkpoint's root hash, base64."),
      cosignedBy: optional(
        array(
          object({ region: region(), size: integer({ minimum: 0 }), at: string({ format: "date-time" }) }),
          { maxItems: 16 },
        ).describe("Per peer, the size of this region's log it cosigned last, and when."),
      ),
      witnessed: optional(
        array(
          object({ region: region(), size: integer({ minimum: 0 }), at: string({ format: "date-time" }) }),
          { maxItems: 16 },
        ).describe("Per peer, the size of the peer's log this region cosigned last, and when."),
      ),
      mirrored: optional(
        array(object({ region: region(), size: integer({ minimum: 0 }) }), { maxItems: 16 }).describe(
          "Per peer, the entries of its log this region holds a proven copy of (served under /mirror/<region>/).",
        ),
      ),
      anchored: optional(
        array(
          object({
            region: region(),
            size: integer({ minimum: 0 }),
            at: optional(string({ format: "date-time" })),
            state: literal("Anchored", "Unregistered", "Invalid", "Pending"),
          }),
          { maxItems: 17 },
        ).describe(
          "Per log (this region's and each peer's), its latest anchor on chain and what this region found it to be: Anchored (a checkpoint of the log), Invalid (the log contradicts it), Pending (beyond what this region holds of the log) or Unregistered.",
        ),
      ),
      trusted: optional(
        array(
          object({
            name: string({ maxLength: 63 }),
            level: literal("observe", "verify", "attest"),
            state: literal("Pending", "Consistent", "Unreachable", "Inconsistent"),
            size: optional(integer({ minimum: 0 })),
            at: optional(string({ format: "date-time" })),
            cosigned: optional(integer({ minimum: 0 })),
            message: optional(string({ maxLength: 512 })),
          }),
          { maxItems: 16 },
        ).describe("The other federations' logs spec.trust lists, as this region last read them."),
      ),
      warnings: optional(
        array(
          object({
            kind: literal("timestamp_drift", "schema_incompatible", "sample_missing", "mirror_full"),
            region: region(),
            message: string({ maxLength: 512 }),
            at: string({ format: "date-time" }),
          }),
          { maxItems: 16 },
        ).describe(
          "Log discrepancies that warn but do not pause, seen in the last 10 minutes (the latest per kind and log).",
        ),
      ),
    }).describe("This region's decision log, served as C2SP tlog-tiles under /log/ on the operator's port."),
  ),
  policy: optional(
    object({
      tiers: tierPolicy.describe(
        "The approvals this region requires per tier: the federation's, or stricter where spec.tiers asks.",
      ),
      stricterHere: array(tier(), { maxItems: 3 }).describe(
        "Tiers where spec.tiers is stricter than the federation's.",
      ),
      floors: string({ maxLength: 1024 }).describe("The lowest tier each kind of object may be applied at."),
      source: optional(
        string({ maxLength: 2048 }).describe(
          "Where the federation's policy came from: built in, or the critical policy manifest this region verified and adopted, with the floors it raises.",
        ),
      ),
    }),
  ),
  guardian: optional(
    object({
      paused: boolean(),
      action: optional(literal(...PAUSE_ACTIONS)),
      /** The chain's GuardianPause, as last read. */
      chainPaused: optional(boolean()),
      chainPauseId: optional(integer({ minimum: 0 })),
      pauses: array(
        object({
          token: string({ maxLength: 100 }),
          source: string({ maxLength: 32 }),
          by: string({ maxLength: 64 }),
          dsp: optional(string({ maxLength: 64 })),
          severity: string({ maxLength: 63 }),
          evidence: bytes32(),
          reason: string({ maxLength: 256 }),
          since: string({ format: "date-time" }),
          acceptedIn: array(region(), { maxItems: 16 }),
        }),
        { maxItems: 64 },
      ),
    }),
  ),
  // A map keyed by type, as Kubernetes' own conditions are: two field managers each own
  // their own conditions (the guardian's Paused, pause-status.ts; the rest, reconciler.ts).
  conditions: optional(array(condition(), { maxItems: 16, mapKey: "type" })),
});

export type FederationSpec = Infer<typeof federationSpec>;
export type FederationStatus = Infer<typeof federationStatus>;
export type TierPolicy = Infer<typeof tierPolicy>;
export type LocalTiers = Infer<typeof localTiers>;
