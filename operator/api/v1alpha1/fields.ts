// Field shapes shared by the v1alpha1 kinds.
import { integer, literal, object, optional, string } from "../schema.ts";

export const GROUP = "dsc.federation.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

export const REGION_NAME = /^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$/;

export const address = (): ReturnType<typeof string> =>
  string({
    pattern: /^0x[0-9a-fA-F]{40}$/,
    patternHelp: "an Ethereum address (0x followed by 40 hex digits)",
  });

export const hexBytes = (): ReturnType<typeof string> =>
  string({
    pattern: /^0x([0-9a-fA-F]{2})*$/,
    patternHelp: "hex bytes (0x followed by an even number of hex digits)",
    maxLength: 65_536,
  });

export const bytes32 = (): ReturnType<typeof string> =>
  string({ pattern: /^0x[0-9a-fA-F]{64}$/, patternHelp: "a 32-byte hash (0x followed by 64 hex digits)" });

export const region = (): ReturnType<typeof string> =>
  string({
    pattern: REGION_NAME,
    patternHelp: "a region name (lower-case letters, digits and '-', e.g. alpha)",
  });

export const TIERS = ["critical", "upgrade", "operational"] as const;
export type Tier = (typeof TIERS)[number];
export const tier = (): ReturnType<typeof literal<typeof TIERS>> => literal(...TIERS);

export const secretKeyRef = () =>
  object({
    name: string({ minLength: 1, maxLength: 253 }).describe("Name of a Secret in the operator's namespace."),
    key: string({ minLength: 1, maxLength: 253 }).describe("Key within the Secret."),
  });

/** metav1.Condition, as every Kubernetes status carries it. */
export const condition = () =>
  object({
    type: string({ minLength: 1, maxLength: 316 }),
    status: literal("True", "False", "Unknown"),
    observedGeneration: optional(integer({ minimum: 0 })),
    lastTransitionTime: string({ format: "date-time" }),
    reason: string({ minLength: 1, maxLength: 1024, pattern: /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/ }),
    message: string({ maxLength: 32_768 }),
  });
