// What the benches time against: the moment a watch in each region sees a
// change (as kubectl get -w would), and the bare baseline, a server-side
// apply of one object to the three API servers at once.
import { KubeConfig, Watch } from "@kubernetes/client-node";
import { Applier } from "../operator/runtime/apply.ts";
import { errorMessage } from "../operator/runtime/errors.ts";
import { REGIONS, type Region } from "../e2e/testbed/layout.ts";
import type { Testbed } from "../e2e/testbed/testbed.ts";

/** An admin KubeConfig and an Applier (field manager "bench") per region. */
export function regionClients(testbed: Testbed): {
  configs: Record<Region, KubeConfig>;
  appliers: Record<Region, Applier>;
} {
  const configs = Object.fromEntries(
    REGIONS.map((r) => {
      const kc = new KubeConfig();
      kc.loadFromFile(testbed.kubeconfig[r]);
      return [r, kc];
    }),
  ) as Record<Region, KubeConfig>;
  const appliers = Object.fromEntries(
    REGIONS.map((r) => [r, new Applier(configs[r], { fieldManager: "bench" })]),
  ) as Record<Region, Applier>;
  return { configs, appliers };
}

export interface Seen {
  /** When a mark was first seen (performance.now()); waits if not yet. */
  seen(mark: string): Promise<number>;
  stop(): void;
}

/** Watches `path`; `marks` names what each event shows (e.g. an object's name), first sighting kept. */
export function watchMarks(
  kc: KubeConfig,
  path: string,
  marks: (type: string, object: unknown) => string[],
): Seen {
  const seen = new Map<string, number>();
  const waiting = new Map<string, ((t: number) => void)[]>();
  let request: { abort(): void } | undefined;
  let stopped = false;
  let reopen: NodeJS.Timeout | undefined;
  // client-node ends a watch that brings no event for 30 s (a round that long: a slow first
  // resume): it is opened again, and its first events (every object, ADDED) give what it missed.
  // A watch that failed is opened again after a second, not at once.
  const again = (error?: unknown): void => {
    if (stopped) return;
    const idle = !error || (error instanceof Error && error.name === "TimeoutError");
    if (!idle) console.error(`bench: the watch of ${path} ended: ${errorMessage(error)}; opening it again`);
    reopen = setTimeout(open, idle ? 100 : 1000);
  };
  const open = (): void => {
    if (stopped) return;
    new Watch(kc)
      .watch(
        path,
        {},
        (type, object: unknown) => {
          const t = performance.now();
          for (const mark of marks(type, object)) {
            if (seen.has(mark)) continue;
            seen.set(mark, t);
            for (const resolve of waiting.get(mark) ?? []) resolve(t);
            waiting.delete(mark);
          }
        },
        again,
      )
      .then((r) => {
        if (stopped) r.abort();
        else request = r;
      }, again);
  };
  open();
  return {
    seen: (mark) => {
      const t = seen.get(mark);
      if (t !== undefined) return Promise.resolve(t);
      return new Promise((resolve) => waiting.set(mark, [...(waiting.get(mark) ?? []), resolve]));
    },
    stop: () => {
      stopped = true;
      clearTimeout(reopen);
      request?.abort();
    },
  };
}

/** The latest of the regions' first sightings of `mark`; a bench never waits for ever. */
export function allSeen(watchers: readonly Seen[], mark: string, timeoutMs = 60_000): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`not seen in every region within ${String(timeoutMs)} ms: ${mark}`));
    }, timeoutMs);
  });
  const seen = Promise.all(watchers.map((w) => w.seen(mark))).then((t) => Math.max(...t));
  return Promise.race([seen, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

/** ConfigMap names added in `ns`, per region. */
export const configMapWatchers = (configs: Record<Region, KubeConfig>, ns: string): Seen[] =>
  REGIONS.map((r) =>
    watchMarks(configs[r], `/api/v1/namespaces/${ns}/configmaps`, (type, o) => {
      const name = (o as { metadata?: { name?: string } }).metadata?.name;
      return type === "ADDED" && name ? [name] : [];
    }),
  );

/** The baseline: one ConfigMap applied to the three API servers at once, until every watch has seen it (ms). */
export async function bareWrite(
  appliers: Record<Region, Applier>,
  watchers: readonly Seen[],
  ns: string,
  name: string,
): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    REGIONS.map((r) =>
      appliers[r].apply({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name, namespace: ns },
        data: { v: "1" },
      }),
    ),
  );
  return (await allSeen(watchers, name)) - t0;
}
