// Regenerates operator/chain/abi/*.ts from the contracts: `node contracts/generate-abi.ts`.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import { renderAbiFiles } from "./abi-files.ts";
import { compileContracts } from "./compile.ts";

for (const { path, text } of await renderAbiFiles(await compileContracts())) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  console.log(`wrote ${relative(process.cwd(), path)}`);
}
