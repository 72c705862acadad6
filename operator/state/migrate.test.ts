// What a migration does with what no old release wrote but a peer could have
// sent it: records that break this schema's layout, two specs for a digest,
// a schema it does not know. (The shipped schemas, written by the code that
// shipped them, are migrated in e2e/tests/migration.e2e.test.ts.)
import * as A from "@automerge/automerge";
import { describe, expect, it } from "vitest";
import { digestOf } from "../../e2e/support/state-fixtures.ts";
import { bucketOf, freshActor } from "./document.ts";
import { legacyGenesis, migrate } from "./migrate.ts";
import { manifestIds } from "./readers.ts";

type Old = Record<string, Record<string, Record<string, unknown>>>;

const schema2 = (edit: (d: Old) => void): A.Doc<object> =>
  A.change(A.load<Old>(legacyGenesis(2), { actor: freshActor() }), (d) => {
    edit(d);
  });

describe("migrating a schema 2 document", () => {
  it("leaves behind what breaks the layout and a digest with two specs, and counts them", () => {
    const good = digestOf("good");
    const twice = digestOf("twice");
    const doc = schema2((d) => {
      const id = "ops/api";
      (d.versions as Old[string])[bucketOf(id)] = {
        [`${id} 1 ${good} alpha`]: 1000,
        [`${id} NaN ${good} alpha`]: 1000, // not a nonce
      };
      (d.versions as Old[string])[bucketOf("ops/elsewhere")] = { [`${id} 2 ${good} alpha`]: 1000 }; // wrong bucket
      (d.specs as Old[string])[bucketOf(good)] = { [`${good} {"a":1}`]: true };
      (d.specs as Old[string])[bucketOf(twice)] = { [`${twice} {"a":1}`]: true, [`${twice} {"a":2}`]: true };
      // Not a digest: it would have made every start fail, as the spec store refuses the name.
      (d.specs as Old[string])[bucketOf(good)] = {
        ...(d.specs as Old[string])[bucketOf(good)],
        [`../../evil {"a":1}`]: true,
      };
    });
    const migrated = migrate(doc, freshActor());
    if (!migrated) throw new Error("not migrated");
    expect(migrated.from).toBe(2);
    expect(manifestIds(migrated.doc)).toEqual(["ops/api"]);
    expect(migrated.dropped).toBe(3);
    expect([...migrated.specs]).toEqual([[good, '{"a":1}']]);
  });

  it("refuses a schema it does not know, naming the ones it reads", () => {
    const doc = A.change(A.init<{ schema: number }>(), (d) => {
      d.schema = 99;
    });
    expect(() => migrate(doc, freshActor())).toThrow("schema 99: this operator reads 3 and migrates 1 and 2");
  });
});
