// A chain of a test's own, set up exactly as the test bed's, for tests that
// change chain state (rotating a DSP out, revoking an agent) or take it down.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deployFederationContracts } from "../../contracts/deploy.ts";
import { deployFederation, federationSetup, startAnvil, waitForAnvil } from "./chain.ts";
import { freePort, stopProcess } from "./process.ts";
import { enableBoardModule } from "./safe-tx.ts";
import type { TestbedChain } from "./testbed.ts";

export interface PrivateChain {
  readonly chain: TestbedChain;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startPrivateChain(): Promise<PrivateChain> {
  const dir = mkdtempSync(join(tmpdir(), "dsc-chain-"));
  const port = await freePort();
  const rpcUrl = `http://127.0.0.1:${String(port)}`;
  const anvil = startAnvil(dir, port);
  try {
    await waitForAnvil(anvil, rpcUrl);
    const safes = await deployFederation(rpcUrl);
    const federation = await deployFederationContracts(rpcUrl, federationSetup(safes));
    await enableBoardModule(safes);
    return {
      chain: { ...safes, federation },
      port,
      stop: async () => {
        await stopProcess(anvil);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopProcess(anvil);
    throw error;
  }
}
