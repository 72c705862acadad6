import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { parseEndpoint, pinPeers } from "./config.ts";
import { fingerprint, identifyClient, normalizeFingerprint, verifyServer } from "./identity.ts";
import { certificates } from "../../e2e/support/peers.ts";

const { certs, remove } = certificates(["alpha", "beta"]);
afterAll(remove);
const alpha = certs.alpha;
const beta = certs.beta;

describe("peer certificates", () => {
  it("are self-signed ECDSA P-256, good for both ends of mutual TLS", () => {
    const x509 = new X509Certificate(alpha.cert);
    expect(x509.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: "prime256v1" });
    expect(x509.issuer).toBe(x509.subject);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.toLegacyObject().ext_key_usage).toEqual(
      expect.arrayContaining(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]),
    );
  });

  it("have the fingerprint openssl prints, from PEM or DER, in the form the spec pins", () => {
    const printed = execFileSync(
      "openssl",
      ["x509", "-in", alpha.certFile, "-noout", "-fingerprint", "-sha256"],
      {
        encoding: "utf8",
      },
    );
    const fromOpenssl = normalizeFingerprint(printed.trim().replace(/^.*=/, ""));
    expect(alpha.fingerprint).toBe(fromOpenssl);
    expect(fingerprint(new X509Certificate(alpha.cert).raw)).toBe(fromOpenssl);
    expect(alpha.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(beta.fingerprint).not.toBe(alpha.fingerprint);
  });

  it("refuse to fingerprint what is not a certificate", () => {
    expect(() => fingerprint("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")).toThrow();
    expect(() => normalizeFingerprint("ab:cd")).toThrow(/not a SHA-256 fingerprint/);
  });
});

describe("who a certificate authenticates", () => {
  const pins = new Map([
    [alpha.fingerprint, "alpha"],
    [beta.fingerprint, "beta"],
  ]);
  // As gamma sees it: it dials nobody it sorts before, so alpha and beta dial gamma.
  const gammaDials = (peer: string) => "gamma" < peer;

  it("names the pinned region of a client, and refuses the rest with a reason", () => {
    expect(identifyClient(beta.fingerprint, pins, gammaDials)).toEqual({ ok: true, region: "beta" });
    expect(identifyClient(undefined, pins, gammaDials)).toEqual({ ok: false, reason: "no_certificate" });
    expect(identifyClient("0".repeat(64), pins, gammaDials)).toEqual({
      ok: false,
      reason: "unknown_certificate",
    });
    // Alpha dials beta; beta dialling alpha would be a second connection for the pair.
    expect(identifyClient(beta.fingerprint, pins, (peer) => "alpha" < peer)).toEqual({
      ok: false,
      reason: "wrong_direction",
    });
  });

  it("accepts a server only with the pin of the region dialled", () => {
    expect(verifyServer(beta.fingerprint, pins, "beta")).toEqual({ ok: true, region: "beta" });
    expect(verifyServer(alpha.fingerprint, pins, "beta")).toEqual({ ok: false, reason: "wrong_region" });
    expect(verifyServer("1".repeat(64), pins, "beta")).toEqual({ ok: false, reason: "unknown_certificate" });
    expect(verifyServer(undefined, pins, "beta")).toEqual({ ok: false, reason: "no_certificate" });
  });
});

describe("pinned peer set", () => {
  const peer = (region: string, fp: string, endpoint = "10.0.0.1:7443") => ({
    region,
    endpoint,
    fingerprint: fp,
  });

  it("normalizes pins as tools print them", () => {
    const colons = alpha.fingerprint.toUpperCase().replace(/(..)(?!$)/g, "$1:");
    expect(pinPeers("gamma", [peer("alpha", colons)]).get("alpha")?.fingerprint).toBe(alpha.fingerprint);
  });

  it("refuses configurations that would make identities ambiguous", () => {
    expect(() => pinPeers("alpha", [peer("alpha", alpha.fingerprint)])).toThrow(/its own peer/);
    expect(() =>
      pinPeers("gamma", [peer("beta", alpha.fingerprint), peer("beta", beta.fingerprint)]),
    ).toThrow(/pinned twice/);
    expect(() =>
      pinPeers("gamma", [peer("alpha", beta.fingerprint), peer("beta", beta.fingerprint)]),
    ).toThrow(/shares its certificate/);
    expect(() => pinPeers("gamma", [peer("Beta", beta.fingerprint)])).toThrow(/invalid peer region/);
  });

  it("parses endpoints, IPv6 included, and refuses what is not host:port", () => {
    expect(parseEndpoint("dsc.beta.example:7443")).toEqual({ host: "dsc.beta.example", port: 7443 });
    expect(parseEndpoint("[::1]:7443")).toEqual({ host: "::1", port: 7443 });
    for (const bad of ["beta", "beta:", "beta:0", "beta:65536", "::1:7443", "https://beta:7443"])
      expect(() => parseEndpoint(bad), bad).toThrow(/host:port/);
  });
});
