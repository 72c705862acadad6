// Brings the test bed up once for the end-to-end suite, and down afterwards if
// this run started it (a test bed that was already up is left running, so a
// developer can iterate against it; DSC_TESTBED_KEEP=1 keeps one we started).
import { down, up } from "./testbed.ts";

export default async function setup(): Promise<() => Promise<void>> {
  const { started, timings } = await up({
    log: (line) => {
      console.error(`testbed: ${line}`);
    },
  });
  if (started) console.error(`testbed: up in ${JSON.stringify(timings)} ms`);
  return async () => {
    if (started && process.env.DSC_TESTBED_KEEP !== "1") await down();
  };
}
