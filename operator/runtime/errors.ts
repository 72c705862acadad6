// What an error says, for a log line, a condition or an Event: anything can be
// thrown in JavaScript, and a multi-line message (viem's) is cut to its first line.

/** The first line of an error's message, or the thrown value as text. */
export function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.message.split("\n", 1)[0] ?? error.message;
}
