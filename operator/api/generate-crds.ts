// Writes crds/<plural>.yaml from the code. A unit test fails when the
// committed files differ from what this would write.
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { crdFiles } from "./crd-files.ts";

const dir = resolve(import.meta.dirname, "../../crds");
for (const [file, text] of Object.entries(crdFiles())) {
  writeFileSync(join(dir, file), text);
  console.log(`wrote crds/${file}`);
}
