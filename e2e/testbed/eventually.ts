// Waiting for a level-triggered system to get somewhere: poll `probe` until it
// yields a value (not undefined or false), or fail naming what did not happen,
// the last error seen, and where to look.
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  options: { readonly timeoutMs?: number; readonly logs?: () => readonly string[] } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const logs = options.logs?.() ?? [];
  throw new Error(
    `timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}` +
      (logs.length > 0 ? `\n(logs: ${logs.join(", ")})` : ""),
  );
}
