// What runs only on the leader (controllers, the peer transport), started
// and stopped together, as controller-runtime's manager does. Without leader
// election they start at once. A replica that loses the lease exits and
// restarts as a clean standby, rather than resume with whatever it held
// when it was cut off.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { KubeAccess } from "../kube/access.ts";
import { errorMessage } from "./errors.ts";
import { LeaderElector } from "./leader.ts";

interface Runnable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface ManagerOptions {
  readonly logger: Logger;
  /** Stages in start order, each started together; stopped in reverse. */
  readonly runnables: readonly (readonly Runnable[])[];
  readonly leaderElection?:
    | {
        readonly namespace: string;
        readonly name: string;
        readonly identity: string;
        readonly kubeConfig: KubeAccess;
        readonly registry: Registry;
      }
    | undefined;
}

export class Manager {
  readonly #o: ManagerOptions;
  #elector: LeaderElector | undefined;
  #running = false;
  #stopping = false;
  #stopped: Promise<void> | undefined;

  constructor(options: ManagerOptions) {
    this.#o = options;
  }

  /** Whether this replica's runnables run (readiness). */
  get running(): boolean {
    return this.#running;
  }

  start(): Promise<void> {
    const election = this.#o.leaderElection;
    if (!election) return this.#startAll();
    this.#elector = new LeaderElector({
      ...election,
      logger: this.#o.logger,
      onStartedLeading: () => {
        this.#startAll().catch((error: unknown) => {
          this.#o.logger.error(
            { err: errorMessage(error) },
            "could not start as the leader: exiting to restart",
          );
          process.exit(1);
        });
      },
      // The Lease is released only once the work has stopped, so a successor never overlaps it.
      onStoppedLeading: async () => {
        await this.#stopAll();
        if (this.#stopping) return;
        this.#o.logger.error("lost the leader lease: exiting so that this replica restarts as a standby");
        process.exit(1);
      },
    });
    this.#elector.start();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#elector?.stop();
    await this.#stopAll();
  }

  async #startAll(): Promise<void> {
    this.#stopped = undefined;
    for (const stage of this.#o.runnables) {
      if (this.#stopping) return; // stopped while starting: start nothing more
      await Promise.all(stage.map((r) => r.start()));
    }
    if (this.#stopping) return;
    this.#running = true;
    this.#o.logger.info("controllers started");
  }

  /** Once per start, however many callers ask. */
  #stopAll(): Promise<void> {
    this.#running = false;
    this.#stopped ??= (async () => {
      for (const stage of [...this.#o.runnables].reverse()) await Promise.all(stage.map((r) => r.stop()));
    })();
    return this.#stopped;
  }
}
