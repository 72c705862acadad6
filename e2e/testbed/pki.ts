// Per-region certificates for the test bed: a CA of the region's own, the API
// server's serving certificate, client certificates for the admin and each
// control-plane component, and the service-account signing key. ECDSA P-256
// throughout: generated in milliseconds, unlike RSA, and accepted by every
// component. Each region has its own CA, so alpha's credentials mean nothing
// to beta's API server, as between real DSPs.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface ClientIdentity {
  readonly user: string;
  readonly groups: readonly string[];
}

/** The identities the test bed issues client certificates to, by file name. */
export const CLIENTS = {
  admin: { user: "kubernetes-admin", groups: ["system:masters"] },
  "kube-controller-manager": { user: "system:kube-controller-manager", groups: [] },
  "kube-scheduler": { user: "system:kube-scheduler", groups: [] },
  kwok: { user: "kwok-controller", groups: ["system:masters"] },
  // The operator writes arbitrary approved objects; the chart grants a ClusterRole, the test bed masters.
  "dsc-operator": { user: "dsc-operator", groups: ["system:masters"] },
} as const satisfies Record<string, ClientIdentity>;

export type ClientName = keyof typeof CLIENTS;

export interface RegionPki {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
  clientCert(name: ClientName): string;
  clientKey(name: ClientName): string;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function ecKey(file: string, cwd: string): void {
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file], cwd);
}

function issue(cwd: string, name: string, subject: string, extensions: string, days = 30): void {
  ecKey(`${name}.key`, cwd);
  openssl(["req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`], cwd);
  writeFileSync(join(cwd, `${name}.ext`), extensions);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      String(days),
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    ],
    cwd,
  );
}

/** Distinguished names are '/'-separated: escape what would break them. */
function dn(value: string): string {
  if (!/^[\w:.@ -]+$/.test(value))
    throw new Error(`refusing unusual certificate name ${JSON.stringify(value)}`);
  return value;
}

/** Creates (or reuses, if complete) the PKI of one region under `dir`. */
export function regionPki(dir: string, region: string): RegionPki {
  const pki: RegionPki = {
    dir,
    caCert: join(dir, "ca.crt"),
    serverCert: join(dir, "apiserver.crt"),
    serverKey: join(dir, "apiserver.key"),
    serviceAccountKey: join(dir, "sa.key"),
    serviceAccountPub: join(dir, "sa.pub"),
    clientCert: (name) => join(dir, `${name}.crt`),
    clientKey: (name) => join(dir, `${name}.key`),
  };
  const done = join(dir, "complete");
  const marker = `${region}:${Object.keys(CLIENTS).join(",")}:v2`;
  if (existsSync(done) && readFileSync(done, "utf8") === marker) return pki;

  mkdirSync(dir, { recursive: true });
  ecKey("ca.key", dir);
  openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      "ca.key",
      "-subj",
      `/CN=dsc-testbed-${dn(region)}-ca`,
      "-days",
      "365",
      "-out",
      "ca.crt",
    ],
    dir,
  );
  issue(
    dir,
    "apiserver",
    `/CN=kube-apiserver-${dn(region)}`,
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc",
      "",
    ].join("\n"),
  );
  for (const [name, identity] of Object.entries(CLIENTS) as [ClientName, ClientIdentity][]) {
    const subject = [...identity.groups.map((g) => `/O=${dn(g)}`), `/CN=${dn(identity.user)}`].join("");
    issue(
      dir,
      name,
      subject,
      [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=clientAuth",
        "",
      ].join("\n"),
    );
  }
  ecKey("sa.key", dir);
  openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  writeFileSync(done, marker);
  return pki;
}
