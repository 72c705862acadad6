// Splits a byte stream into newline-terminated lines: a watch sends one JSON
// event per line, in chunks that cut lines (and UTF-8 characters) anywhere.
// Lines are kept as bytes until complete, so a character split across two
// chunks decodes whole. A line longer than maxBytes is an error rather than
// unbounded memory: the API server's objects are at most ~1.5 MB (etcd's
// request limit), so a far longer line is a broken or hostile stream.

export class LineTooLongError extends Error {
  override name = "LineTooLongError";
}

export class LineSplitter {
  readonly maxBytes: number;
  #parts: Buffer[] = [];
  #size = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** The lines this chunk completes, without their newlines; blank lines are skipped. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      this.#grow(piece.length);
      const bytes = this.#parts.length === 0 ? piece : Buffer.concat([...this.#parts, piece]);
      this.#parts = [];
      this.#size = 0;
      const line = bytes.toString("utf8");
      if (line.trim() !== "") lines.push(line);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.#grow(rest.length);
      // A copy, so that the pending tail does not pin the whole chunk.
      this.#parts.push(Buffer.from(rest));
    }
    return lines;
  }

  #grow(bytes: number): void {
    this.#size += bytes;
    if (this.#size > this.maxBytes)
      throw new LineTooLongError(`a watch event is longer than ${String(this.maxBytes)} bytes`);
  }
}
