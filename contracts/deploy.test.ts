import { describe, expect, it } from "vitest";
import { inNonceOrder } from "./deploy.ts";

/** A send that records when it started and finished, settling when `release` is called. */
function recorder(): {
  events: string[];
  send: (label: string, fail?: boolean) => (nonce: number) => Promise<string>;
  release: () => void;
} {
  const events: string[] = [];
  const waiting: (() => void)[] = [];
  return {
    events,
    send:
      (label, fail = false) =>
      (nonce) => {
        events.push(`start ${label}@${String(nonce)}`);
        return new Promise((resolve, reject) => {
          waiting.push(() => {
            events.push(`sent ${label}`);
            if (fail) reject(new Error(`${label} refused`));
            else resolve(`hash of ${label}`);
          });
        });
      },
    release: () => waiting.shift()?.(),
  };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("inNonceOrder", () => {
  it("hands a send to the node only after the one before it was accepted, numbering nonces in call order", async () => {
    const { events, send, release } = recorder();
    const inOrder = inNonceOrder(7);
    const all = Promise.all(["a", "b", "c"].map((label) => inOrder(send(label))));
    await settle();
    // Called together, as Promise.all does: only the first has started.
    expect(events).toEqual(["start a@7"]);
    for (let i = 0; i < 3; i++) {
      release();
      await settle();
    }
    expect(events).toEqual(["start a@7", "sent a", "start b@8", "sent b", "start c@9", "sent c"]);
    await expect(all).resolves.toEqual(["hash of a", "hash of b", "hash of c"]);
  });

  it("reports a refused send to its caller, and sends nothing after it: its nonce would be a gap", async () => {
    const { events, send, release } = recorder();
    const inOrder = inNonceOrder(0);
    const first = inOrder(send("a", true));
    const second = inOrder(send("b"));
    await settle();
    release();
    await expect(first).rejects.toThrow("a refused");
    await expect(second).rejects.toThrow("not sent: the transaction of nonce 0 before it failed");
    expect(events).toEqual(["start a@0", "sent a"]);
  });
});
