// BreachReport: a monitoring agent's signed report of a breach (EIP-712). It
// counts only when signed by an address holding the federation's soulbound
// agent token, bound to a DSP that is an owner of the Consortium Safe.
import { array, integer, literal, object, optional, string, type Infer } from "../schema.ts";
import { address, bytes32, condition, hexBytes } from "./fields.ts";

const BREACH_SEVERITIES = ["warning", "critical"] as const;
export type BreachSeverity = (typeof BREACH_SEVERITIES)[number];

/** The signed fields: what the agent's EIP-712 signature covers (with the federation). */
const breachReportFields = {
  agent: address().describe("The reporting agent: it must hold a soulbound agent token bound to a DSP."),
  scope: string({ minLength: 1, maxLength: 253 }).describe(
    "What the breach concerns, e.g. a region, a namespace or a contract.",
  ),
  severity: literal(...BREACH_SEVERITIES).describe("warning or critical."),
  evidenceHash: bytes32().describe("keccak256 of the evidence, kept by the agent."),
  observedAt: string({ format: "date-time" }).describe(
    "When the agent saw the breach (RFC 3339); stale or future reports are refused.",
  ),
};

/** The report alone, as the operator's HTTP endpoint takes it beside the signature. */
export const breachReport = object(breachReportFields);

export const breachReportSpec = object({
  ...breachReportFields,
  signature: hexBytes().describe("The agent's EIP-712 signature of the report (65 bytes: r, s, v)."),
});

const BREACH_STATES = ["Accepted", "Refused"] as const;

export const breachReportStatus = object({
  observedGeneration: optional(integer({ minimum: 0 })),
  state: optional(literal(...BREACH_STATES)),
  reason: optional(string({ maxLength: 64 })),
  message: optional(string({ maxLength: 32_768 })),
  dsp: optional(address().describe("The DSP the signing agent is bound to.")),
  token: optional(bytes32().describe("The report's EIP-712 hash: its identity, refused when seen again.")),
  conditions: optional(array(condition(), { maxItems: 16 })),
});

export type BreachReportSpec = Infer<typeof breachReportSpec>;
export type BreachReportStatus = Infer<typeof breachReportStatus>;
