// Where the test bed puts things: regions, ports and directories. Ports sit in
// one block above DSC_TESTBED_PORT (default 26000) so that two test beds (say
// a demo and a test run on another checkout) can coexist on one machine. The
// block stays below the kernel's ephemeral range (32768-60999 on Linux): a
// port in that range can be taken by any outgoing connection between our
// check that it is free and the moment a component binds it.
import { join, resolve } from "node:path";

export const REGIONS = ["alpha", "beta", "gamma"] as const;
export type Region = (typeof REGIONS)[number];

export interface RegionPorts {
  readonly etcdClient: number;
  readonly etcdPeer: number;
  readonly apiserver: number;
  readonly controllerManager: number;
  readonly scheduler: number;
  readonly kwok: number;
  /** The region's operator's federation endpoint (peer sync over mTLS). */
  readonly peer: number;
}

export interface Layout {
  readonly root: string;
  readonly ports: {
    readonly regions: Record<Region, RegionPorts>;
    readonly anvil: number;
    readonly safeService: number;
  };
  regionDir(region: Region): string;
  kubeconfig(region: Region): string;
}

export function layout(
  root = process.env.DSC_TESTBED_DIR ?? resolve(import.meta.dirname, "../../.testbed"),
  base = Number(process.env.DSC_TESTBED_PORT ?? 26000),
): Layout {
  if (!Number.isInteger(base) || base < 1024 || base > 32700) {
    throw new Error(
      `DSC_TESTBED_PORT must be an integer from 1024 to 32700 (below the ephemeral port range), got ${String(base)}`,
    );
  }
  const regionPorts = (i: number): RegionPorts => {
    const p = base + 10 * i;
    return {
      etcdClient: p,
      etcdPeer: p + 1,
      apiserver: p + 2,
      controllerManager: p + 3,
      scheduler: p + 4,
      kwok: p + 5,
      peer: p + 6,
    };
  };
  return {
    root,
    ports: {
      regions: { alpha: regionPorts(0), beta: regionPorts(1), gamma: regionPorts(2) },
      anvil: base + 40,
      safeService: base + 41,
    },
    regionDir: (region) => join(root, region),
    kubeconfig: (region) => join(root, region, "kubeconfig"),
  };
}
