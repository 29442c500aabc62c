const MIN_CAPACITY = 16;

/**
 * @internal A double-ended queue on a power-of-two ring buffer: O(1) `push`, `shift` and indexed
 * `get`. Unlike `Array#shift` (O(n) once the array leaves V8's fast path) it stays cheap at any
 * length, and unlike a head index over a plain array it gives memory back: the buffer halves when
 * it is three-quarters empty, so a log that held a million entries shrinks once they are trimmed.
 */
export class Deque<T> {
  #items: Array<T | undefined>;
  #head = 0;
  #length = 0;
  #mask: number;

  constructor() {
    this.#items = new Array<T | undefined>(MIN_CAPACITY);
    this.#mask = MIN_CAPACITY - 1;
  }

  /** Number of items held. */
  get length(): number {
    return this.#length;
  }

  /** Append at the back. */
  push(item: T): void {
    if (this.#length > this.#mask) this.#resize((this.#mask + 1) * 2);
    this.#items[(this.#head + this.#length) & this.#mask] = item;
    this.#length++;
  }

  /** Remove and return the front item. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const head = this.#head;
    const item = this.#items[head];
    // Clear the slot so the ring does not keep a trimmed item reachable.
    this.#items[head] = undefined;
    this.#head = (head + 1) & this.#mask;
    this.#length--;
    const capacity = this.#mask + 1;
    if (capacity > MIN_CAPACITY && this.#length < capacity >>> 2) this.#resize(capacity >>> 1);
    return item;
  }

  /** The front item, without removing it. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  /** The item `index` places from the front (0 is the front), or `undefined` out of range. */
  get(index: number): T | undefined {
    if (index < 0 || index >= this.#length) return undefined;
    return this.#items[(this.#head + index) & this.#mask];
  }

  /** Replace the item `index` places from the front; ignored out of range. */
  set(index: number, item: T): void {
    if (index < 0 || index >= this.#length) return;
    this.#items[(this.#head + index) & this.#mask] = item;
  }

  /** Drop every item and give the buffer back. */
  clear(): void {
    this.#items = new Array<T | undefined>(MIN_CAPACITY);
    this.#mask = MIN_CAPACITY - 1;
    this.#head = 0;
    this.#length = 0;
  }

  #resize(capacity: number): void {
    const next = new Array<T | undefined>(capacity);
    const items = this.#items;
    const mask = this.#mask;
    for (let i = 0; i < this.#length; i++) next[i] = items[(this.#head + i) & mask];
    this.#items = next;
    this.#mask = capacity - 1;
    this.#head = 0;
  }
}
