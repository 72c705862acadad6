// node e2e/safe-service/main.ts --rpc URL --chain-id N [--host H] [--port P] [--api-key KEY]
// Prints "listening URL" (URL is api-kit's txServiceUrl) once it accepts
// requests; closes cleanly on SIGTERM or SIGINT.
import { parseArgs } from "node:util";
import { startSafeServiceDouble } from "./server.ts";

function usage(problem: string): never {
  console.error(
    `${problem}\nusage: main.ts --rpc URL --chain-id N [--host 127.0.0.1] [--port 0] [--api-key KEY]`,
  );
  process.exit(2);
}

function integer(value: string | undefined, name: string, fallback?: number): number {
  if (value === undefined) return fallback ?? usage(`--${name} is required`);
  if (!/^\d+$/.test(value)) usage(`--${name} must be a non-negative integer, got "${value}"`);
  return Number(value);
}

const { values } = parseArgs({
  options: {
    rpc: { type: "string" },
    "chain-id": { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    "api-key": { type: "string" },
  },
});
if (values.rpc === undefined) usage("--rpc is required");

const service = await startSafeServiceDouble({
  rpcUrl: values.rpc,
  chainId: integer(values["chain-id"], "chain-id"),
  host: values.host,
  port: integer(values.port, "port", 0),
  ...(values["api-key"] !== undefined ? { apiKey: values["api-key"] } : {}),
});
console.log(`listening ${service.url}`);

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  service.close().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`closing after ${signal} failed:`, err);
      process.exit(1);
    },
  );
};
process.on("SIGTERM", () => {
  stop("SIGTERM");
});
process.on("SIGINT", () => {
  stop("SIGINT");
});
