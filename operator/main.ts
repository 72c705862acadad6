// The operator's entry point. Controllers arrive with the issues that need
// them; for now it starts, answers health probes, and stops cleanly.
import { createServer } from "node:http";
import { pino } from "pino";

const log = pino({ base: { component: "dsc-operator" } });
const port = Number(process.env.DSC_HEALTH_PORT ?? 8081);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  log.fatal({ value: process.env.DSC_HEALTH_PORT }, "DSC_HEALTH_PORT must be a TCP port number (0-65535)");
  process.exit(2);
}

const server = createServer((req, res) => {
  const ok = req.url === "/healthz" || req.url === "/readyz";
  res.writeHead(ok ? 200 : 404, { "content-type": "text/plain" }).end(ok ? "ok\n" : "not found\n");
});
server.listen(port, process.env.DSC_HEALTH_HOST ?? "0.0.0.0", () => {
  const address = server.address();
  log.info({ health: typeof address === "object" && address ? address.port : port }, "dsc-operator started");
});

const stop = (signal: string): void => {
  log.info({ signal }, "dsc-operator stopping");
  server.close(() => process.exit(0));
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
