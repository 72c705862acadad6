// The chain for the kind clusters: anvil listening on every interface (the
// clusters' pods reach it through the Docker network's gateway), with the
// test bed's Safes and federation contracts. Writes chain.json (addresses and
// the test keys) and anvil.pid into DIR, and leaves anvil running;
// e2e/kind/down.sh stops it.
//   node e2e/kind/chain.ts DIR [PORT]
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { deployFederationContracts } from "../../contracts/deploy.ts";
import { CHAIN_ID, deployFederation, federationSetup, startAnvil, waitForAnvil } from "../testbed/chain.ts";
import { stopProcess } from "../testbed/process.ts";
import { enableBoardModule } from "../testbed/safe-tx.ts";
import type { TestbedChain } from "../testbed/testbed.ts";

const [dirArg, portArg = "8545"] = process.argv.slice(2);
if (!dirArg || !/^\d{1,5}$/.test(portArg)) {
  console.error("usage: node e2e/kind/chain.ts DIR [PORT]");
  process.exit(2);
}
const dir = resolve(dirArg);
const port = Number(portArg);
const rpcUrl = `http://127.0.0.1:${String(port)}`;
const anvil = startAnvil(dir, port, "0.0.0.0");
try {
  await waitForAnvil(anvil, rpcUrl);
  const safes = await deployFederation(rpcUrl);
  const federation = await deployFederationContracts(rpcUrl, federationSetup(safes));
  await enableBoardModule(safes);
  const chain: TestbedChain = { ...safes, federation };
  writeFileSync(join(dir, "chain.json"), `${JSON.stringify(chain, null, 2)}\n`);
  writeFileSync(join(dir, "anvil.pid"), `${String(anvil.pid)}\n`);
  console.log(`chain ${String(CHAIN_ID)} on port ${String(port)}: ${join(dir, "chain.json")}`);
} catch (error) {
  await stopProcess(anvil);
  throw error;
}
