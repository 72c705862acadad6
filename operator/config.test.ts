import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.ts";

describe("the operator's configuration", () => {
  it("gives each process its own Lease identity, so a pod recreated under its name never resumes the old one's lease", () => {
    const env = { DSC_IDENTITY: "dsc-operator-1" };
    const first = loadConfig(env, "host").identity;
    const second = loadConfig(env, "host").identity;
    expect(first).toMatch(/^dsc-operator-1_[0-9a-f]{8}$/);
    expect(second).toMatch(/^dsc-operator-1_[0-9a-f]{8}$/);
    expect(second).not.toBe(first);
    expect(loadConfig({}, "laptop").identity).toMatch(
      new RegExp(`^laptop-${String(process.pid)}_[0-9a-f]{8}$`),
    );
  });
});
