// A region's peer certificate for tests and the test bed: self-signed ECDSA
// P-256 (generated in milliseconds), one certificate for both the server and
// the client side of the mutual TLS, since the pinned fingerprint is all that
// identifies it. Not used at run time: a DSP brings its own key and pins it.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REGION_NAME } from "../../operator/api/v1alpha1/fields.ts";
import { fingerprint } from "../../operator/peers/identity.ts";

export interface PeerCertificate {
  readonly region: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM */
  readonly cert: string;
  /** PEM */
  readonly key: string;
  /** What the Federation spec pins for this region. */
  readonly fingerprint: string;
}

/** Creates `<region>.crt` and `<region>.key` under `dir`, or reuses them if both exist. */
export function generatePeerCertificate(dir: string, region: string): PeerCertificate {
  if (!REGION_NAME.test(region)) throw new Error(`invalid region ${JSON.stringify(region)}`);
  const certFile = join(dir, `${region}.crt`);
  const keyFile = join(dir, `${region}.key`);
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    mkdirSync(dir, { recursive: true });
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        keyFile,
        "-out",
        certFile,
        "-days",
        "365",
        "-subj",
        `/CN=dsc-peer-${region}`,
        "-addext",
        `subjectAltName=DNS:dsc-peer-${region}`,
        "-addext",
        "keyUsage=critical,digitalSignature",
        "-addext",
        "extendedKeyUsage=serverAuth,clientAuth",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
  }
  const cert = readFileSync(certFile, "utf8");
  return {
    region,
    certFile,
    keyFile,
    cert,
    key: readFileSync(keyFile, "utf8"),
    fingerprint: fingerprint(cert),
  };
}
