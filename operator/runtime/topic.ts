// A value announced to whoever listens: how one part of the operator tells
// another that something changed without knowing who listens (a controller's
// watchChannel source, a status refresh). Listeners run synchronously, in
// the order they subscribed.

export class Topic<T = void> {
  readonly #listeners: ((value: T) => void)[] = [];

  /** Returns how to stop listening. */
  subscribe(listener: (value: T) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      const at = this.#listeners.indexOf(listener);
      if (at >= 0) this.#listeners.splice(at, 1);
    };
  }

  publish(value: T): void {
    for (const listener of [...this.#listeners]) listener(value);
  }
}
