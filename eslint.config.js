// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

// An import specifier into the test tree (e2e/, with its helpers in e2e/support, or bench/) ...
const TEST_TREE = /(^|\/)(e2e|bench)(\/|$)/;
const TEST_TREE_MESSAGE =
  "Product code (operator/, contracts/) must not import from e2e/ (test bed, e2e/support helpers) or bench/.";
// ... or to a test file.
const TEST_FILE = /\.test(\.[cm]?[jt]s)?$/;
const TEST_FILE_MESSAGE = "Product code (operator/, contracts/) must not import a test file.";
// A regex for an esquery selector, whose /…/ literal cannot hold a "/" even escaped.
const selectorRegex = (/** @type {RegExp} */ re) => `/${re.source.replaceAll("\\/", "\\x2F")}/`;

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".testbed/", "coverage/", "**/.scratch/"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { allowNumber: true, allowBoolean: true },
      ],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      // client-node types its API models as classes, but they are plain data
      // and the API takes object literals; the rule would flag every manifest.
      "@typescript-eslint/no-unsafe-class-instance-assignment": "off",
    },
  },
  {
    // Product code (what the operator image and the contract deployment run)
    // never depends on the test tree: not on e2e/ (the test bed, and the test
    // helpers in e2e/support), not on bench/, not on a test file. Static
    // imports, re-exports and type imports through no-restricted-imports;
    // import() and import("…") types through no-restricted-syntax.
    files: ["operator/**/*.ts", "contracts/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { regex: TEST_TREE.source, message: TEST_TREE_MESSAGE },
            { regex: TEST_FILE.source, message: TEST_FILE_MESSAGE },
          ],
        },
      ],
      "no-restricted-syntax": [
        "error",
        ...[TEST_TREE, TEST_FILE].flatMap((re, i) => {
          const message = i === 0 ? TEST_TREE_MESSAGE : TEST_FILE_MESSAGE;
          return [
            { selector: `ImportExpression[source.value=${selectorRegex(re)}]`, message },
            { selector: `TSImportType[argument.literal.value=${selectorRegex(re)}]`, message },
          ];
        }),
      ],
    },
  },
  { files: ["**/*.js"], extends: [tseslint.configs.disableTypeChecked] },
);
