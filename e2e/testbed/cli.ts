// `npm run testbed -- up | down | status`: the three-region test bed from a shell.
import { down, status, up } from "./testbed.ts";

const usage = "usage: npm run testbed -- up | down | status";
const [command, ...rest] = process.argv.slice(2);
if (rest.length > 0) {
  console.error(`unexpected arguments: ${rest.join(" ")}\n${usage}`);
  process.exit(2);
}
const log = (line: string): void => {
  console.error(`testbed: ${line}`);
};

switch (command) {
  case "up": {
    try {
      const { testbed, started, timings } = await up({ log });
      if (started) log(`up in ${((timings.total ?? 0) / 1000).toFixed(1)} s (${JSON.stringify(timings)})`);
      for (const [region, file] of Object.entries(testbed.kubeconfig))
        console.log(`${region}: KUBECONFIG=${file}`);
      console.log(
        `chain: ${testbed.chain.rpcUrl} (chain id ${String(testbed.chain.chainId)}), ${testbed.layout.root}/chain.json`,
      );
      console.log(`safe transaction service (double): ${testbed.safeServiceUrl}`);
    } catch (err) {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    }
    break;
  }
  case "down": {
    const stopped = await down();
    log(stopped.length > 0 ? `stopped ${stopped.join(", ")}` : "nothing was running");
    break;
  }
  case "status": {
    const { ready, components } = status();
    if (components.length === 0) {
      console.log("test bed: down");
      break;
    }
    console.log(`test bed: ${ready ? "up" : "degraded"}`);
    for (const c of components) {
      console.log(
        `  ${c.name.padEnd(32)} pid ${String(c.pid).padEnd(8)} ${c.running ? "running" : "STOPPED"}  ${c.log}`,
      );
    }
    if (!ready) process.exitCode = 1;
    break;
  }
  default:
    console.error(usage);
    process.exit(2);
}
