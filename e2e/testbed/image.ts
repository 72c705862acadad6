// How the operator image starts Node: the flags in the Dockerfile's
// ENTRYPOINT (`["node", <flags>..., "dist/main.js"]`), read from the file so
// that the test bed, the Dockerfile test and the benchmarks run the operator
// as the image does, with one place to change them.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const DOCKERFILE = fileURLToPath(new URL("../../Dockerfile", import.meta.url));

/** The ENTRYPOINT's words; throws if it is not the exec form. */
export function imageEntrypoint(text = readFileSync(DOCKERFILE, "utf8")): string[] {
  const line = /^ENTRYPOINT (\[.*\])$/m.exec(text)?.[1];
  if (line === undefined) throw new Error("the Dockerfile has no exec-form ENTRYPOINT");
  const words = JSON.parse(line) as unknown;
  if (!Array.isArray(words) || !words.every((w) => typeof w === "string"))
    throw new Error(`the Dockerfile's ENTRYPOINT is not a list of strings: ${line}`);
  return words;
}

/** The Node flags between "node" and the script. */
export function imageNodeFlags(text?: string): string[] {
  const words = imageEntrypoint(text);
  if (words[0] !== "node" || words.at(-1) !== "dist/main.js")
    throw new Error(
      `the Dockerfile's ENTRYPOINT should be node [flags] dist/main.js: ${JSON.stringify(words)}`,
    );
  return words.slice(1, -1);
}
