// The default exports of @safe-global/api-kit and @safe-global/protocol-kit,
// typed as what Node actually loads. Both packages ship ESM (.mjs) but lack
// "type": "module", and their exports map gives one .d.ts for import and
// require alike; under moduleResolution NodeNext, TypeScript therefore reads
// the types as CommonJS and types a default import as the module namespace
// (`import Safe from ...` has no `init`), while Node hands over the class.
import apiKitImport from "@safe-global/api-kit";
import protocolKitImport from "@safe-global/protocol-kit";

function defaultExport<T>(imported: { readonly default: T }): T {
  const loaded: unknown = imported;
  return (typeof loaded === "function" ? loaded : imported.default) as T;
}

export const SafeApiKit = defaultExport(apiKitImport);
export type SafeApiKit = InstanceType<typeof SafeApiKit>;
export const Safe = defaultExport(protocolKitImport);
export type Safe = InstanceType<typeof Safe>;
