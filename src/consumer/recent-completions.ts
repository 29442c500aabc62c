/**
 * @internal The ids of the last `capacity` messages this consumer settled for good (acknowledged
 * after a successful run, or dead-lettered). Pulsar acknowledgements travel over a connection that
 * can drop before the broker processed them, and the broker then delivers the message again, often
 * to the same consumer: an id found here is acknowledged again instead of run again. Bounded, so
 * memory does not grow with the stream: the oldest id goes when a new one comes.
 */
export class RecentCompletions {
  readonly #ids = new Set<string>();
  readonly #ring: Array<string | undefined>;
  #next = 0;

  constructor(capacity: number) {
    this.#ring = new Array<string | undefined>(capacity);
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  add(id: string): void {
    if (this.#ids.has(id)) return;
    const evicted = this.#ring[this.#next];
    if (evicted !== undefined) this.#ids.delete(evicted);
    this.#ring[this.#next] = id;
    this.#ids.add(id);
    this.#next = (this.#next + 1) % this.#ring.length;
  }
}
