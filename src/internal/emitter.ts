/**
 * @internal A typed event emitter whose `on` returns an unsubscribe function. A listener that
 * throws cannot break processing: its error is passed to `onListenerError`.
 */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Array<(payload: never) => void>>();
  readonly #onListenerError: (error: unknown, event: keyof Events) => void;

  constructor(onListenerError: (error: unknown, event: keyof Events) => void) {
    this.#onListenerError = onListenerError;
  }

  on<E extends keyof Events>(event: E, listener: (payload: Events[E]) => void): () => void {
    const list = this.#listeners.get(event) ?? [];
    // Copy on write so that emit can iterate without guarding against changes during dispatch.
    this.#listeners.set(event, [...list, listener as (payload: never) => void]);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      const current = this.#listeners.get(event) ?? [];
      const next = current.filter((l) => l !== listener);
      if (next.length === 0) this.#listeners.delete(event);
      else this.#listeners.set(event, next);
    };
  }

  /** Whether anyone listens: lets hot paths skip building payloads. */
  has(event: keyof Events): boolean {
    return this.#listeners.has(event);
  }

  emit<E extends keyof Events>(event: E, payload: Events[E]): void {
    const list = this.#listeners.get(event);
    if (list === undefined) return;
    for (const listener of list) {
      try {
        (listener as (payload: Events[E]) => void)(payload);
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }
}
