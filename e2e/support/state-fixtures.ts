// Inputs for the state tests and the bench: realistic shapes, no randomness.
import { createHash } from "node:crypto";
import type { AppliedInput, Approval, PauseRecord, Submission } from "../../operator/state/model.ts";

export const digestOf = (label: string): string => `0x${createHash("sha256").update(label).digest("hex")}`;

/** An agent's pause of `token`, accepted in `region`. */
export const pauseRecord = (token: string, region = "alpha", at = 1000): PauseRecord => ({
  token,
  region,
  source: "agent",
  by: "0x00000000000000000000000000000000000000a9",
  dsp: "0x00000000000000000000000000000000000000d1",
  severity: "critical",
  evidence: digestOf(`evidence ${token}`),
  reason: "settlement: invariant broken (total supply)",
  at,
});

const hash = (text: string): string => createHash("sha256").update(text).digest("hex");

/**
 * A Deployment-like spec of about `bytes` characters of JSON, with hashes in
 * it (image digests, config hashes) so it compresses as little as real ones.
 */
export function specJson(id: string, nonce: number, bytes = 1024): string {
  const name = id.replace("/", "-");
  const env: { name: string; value: string }[] = [];
  const spec = {
    tier: "upgrade",
    targets: ["alpha", "beta", "gamma"],
    nonce,
    expiresAt: "2099-01-01T00:00:00Z",
    objects: [
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name, labels: { app: name } },
        spec: {
          replicas: 2,
          template: {
            spec: {
              containers: [{ name: "main", image: `registry.example/${name}@sha256:${hash(id)}`, env }],
            },
          },
        },
      },
    ],
  };
  while (JSON.stringify(spec).length + 90 < bytes) {
    env.push({ name: `CONFIG_${env.length}`, value: hash(`${id}#${nonce}#${env.length}`) });
  }
  return JSON.stringify(spec);
}

export function submission(id: string, nonce: number, region = "alpha", at = 1_000): Submission {
  return {
    id,
    nonce,
    digest: digestOf(`${id}#${nonce}`),
    region,
    submittedAt: at,
    spec: specJson(id, nonce, 200),
  };
}

export const signature = (n: number): string => `0x${n.toString(16).padStart(130, "0")}`;

export const approvalsFor = (n: number): Approval[] => [
  { safe: "consortium", data: signature(2 * n) },
  { safe: "consortium", data: signature(2 * n + 1) },
];

export const applied = (
  s: Submission,
  region: string,
  state: AppliedInput["state"],
  at = 2_000,
): AppliedInput => ({
  id: s.id,
  region,
  nonce: s.nonce,
  digest: s.digest,
  state,
  at,
});
