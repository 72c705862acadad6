// Percentiles and a printed table: the figures go side by side, as ratios.
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export interface Summary {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
}

export function summarize(samples: readonly number[]): Summary {
  const mean = samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length);
  return { n: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99), mean };
}

export const ms = (x: number): string => `${x.toFixed(1)} ms`;
export const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;

/** A table's header and rows for latency summaries side by side. */
export const SUMMARY_HEADER = ["path", "n", "p50", "p99", "mean"] as const;

export const summaryRow = (name: string, x: Summary): string[] => [
  name,
  String(x.n),
  ms(x.p50),
  ms(x.p99),
  ms(x.mean),
];

export const ratioRow = (name: string, a: Summary, b: Summary): string[] => [
  name,
  "",
  ratio(a.p50, b.p50),
  ratio(a.p99, b.p99),
  ratio(a.mean, b.mean),
];

export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ")).join("\n");
}
