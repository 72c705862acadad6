// A LogAnchor contract of a suite's own, owned by the Consortium Safe, with each
// region's log registered by a real Consortium Safe transaction (the DSP Safes
// approve it on chain): a suite's logs start empty, so no suite can meet
// another's anchors.
import { encodeFunctionData, type Address } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { deployLogAnchor } from "../../contracts/deploy.ts";
import { logAnchorAbi } from "../../operator/chain/abi/log-anchor.ts";
import { anchorLogId } from "../../operator/core/tlog/anchor.ts";
import { ed25519Key, parseVkey } from "../../operator/core/tlog/note.ts";
import { REGIONS } from "./layout.ts";
import { logKey } from "./operator.ts";
import { execFromConsortium } from "./safe-tx.ts";
import type { Testbed } from "./testbed.ts";

export async function deployAnchors(testbed: Testbed): Promise<Address> {
  const { chain } = testbed;
  const contract = await deployLogAnchor(chain.rpcUrl, {
    deployerKey: chain.keys.deployer,
    owner: chain.safes.consortium,
  });
  for (const region of REGIONS) {
    const key = logKey(testbed, region);
    const data = encodeFunctionData({
      abi: logAnchorAbi,
      functionName: "register",
      args: [
        anchorLogId(parseVkey(key.vkey).name),
        `0x${Buffer.from(ed25519Key(key.seed).publicKey).toString("hex")}`,
        privateKeyToAccount(chain.keys.anchorers[region]).address,
      ],
    });
    await execFromConsortium(chain, { to: contract, data }, REGIONS);
  }
  return contract;
}
