// A response body read with a bound: refused before reading when its
// Content-Length says it is too large, and cut off as soon as the streamed
// bytes pass the bound, so a peer or service that answers with gigabytes
// costs at most `limit` bytes of memory (Response.arrayBuffer() would buffer
// it all first).

export class BodyTooLarge extends Error {
  override name = "BodyTooLarge";
  readonly limit: number;
  constructor(limit: number) {
    super(`the response body is over ${String(limit)} bytes`);
    this.limit = limit;
  }
}

/** The body's bytes, or BodyTooLarge; the connection is released either way. */
export async function readBounded(response: Response, limit: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > limit) {
    await response.body?.cancel();
    throw new BodyTooLarge(limit);
  }
  if (!response.body) return new Uint8Array(0);
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new BodyTooLarge(limit);
    }
    chunks.push(value);
  }
  return chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks);
}
