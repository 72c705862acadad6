// How the demo speaks: one short line per step, a clock on the left, ✓ when a
// step is done, and a table of timings at the end. Pure: it writes through the
// function it is given.

/** 0.42 s, 12.4 s, 2 min 05 s. */
export function seconds(ms: number): string {
  if (ms < 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${String(Math.floor(s / 60))} min ${String(s % 60).padStart(2, "0")} s`;
}

/** The clock on the left of every line: minutes and seconds since the demo began. */
export function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, " ")}:${String(s % 60).padStart(2, "0")}`;
}

export interface Timing {
  readonly label: string;
  readonly ms: number;
}

/** The summary: one row per timing, the durations right-aligned. */
export function timingTable(rows: readonly Timing[]): string[] {
  const width = Math.max(4, ...rows.map((r) => r.label.length));
  const values = rows.map((r) => seconds(r.ms));
  const valueWidth = Math.max(4, ...values.map((v) => v.length));
  return [
    `${"step".padEnd(width)}  ${"time".padStart(valueWidth)}`,
    `${"─".repeat(width)}  ${"─".repeat(valueWidth)}`,
    ...rows.map((r, i) => `${r.label.padEnd(width)}  ${(values[i] ?? "").padStart(valueWidth)}`),
  ];
}

/** Prints the story as it happens and keeps the timings for the summary. */
export class Narrator {
  readonly #write: (line: string) => void;
  readonly #now: () => number;
  readonly #start: number;
  readonly timings: Timing[] = [];

  constructor(write: (line: string) => void, now: () => number = () => performance.now()) {
    this.#write = write;
    this.#now = now;
    this.#start = now();
  }

  #line(mark: string, text: string): void {
    this.#write(`${clock(this.#now() - this.#start)}  ${mark} ${text}`);
  }

  /** A chapter of the story: a blank line and its title. */
  chapter(n: number, title: string): void {
    this.#write("");
    this.#write(`${String(n)}. ${title}`);
  }

  /** Something under way that takes a while. */
  begin(text: string): void {
    this.#line("…", text);
  }

  /** A step done; with `timing`, its duration is shown and kept for the summary. */
  done(text: string, timing?: { readonly label: string; readonly ms: number }): void {
    this.#line("✓", timing ? `${text} (${seconds(timing.ms)})` : text);
    if (timing) this.timings.push({ label: timing.label, ms: timing.ms });
  }

  /** Keeps a timing for the summary without printing it (the line said it its own way). */
  record(label: string, ms: number): void {
    this.timings.push({ label, ms });
  }

  /** A detail under the step before it. */
  note(text: string): void {
    this.#write(`         ${text}`);
  }

  fail(text: string): void {
    this.#line("✗", text);
  }

  /** Plain text, no clock. */
  say(text = ""): void {
    this.#write(text);
  }

  /** Runs `work`, then says `text` (a function of its result) with its duration. */
  async step<T>(label: string, work: () => Promise<T>, text: (result: T) => string): Promise<T> {
    const t0 = this.#now();
    const result = await work();
    this.done(text(result), { label, ms: this.#now() - t0 });
    return result;
  }
}
