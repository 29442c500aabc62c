import type { Cursor } from './cursor.js';
import { stickyKeyHash } from './hash-ring.js';

/** Entries per chunk: small enough that an idle topic costs little, large enough to amortize. */
const CHUNK_BITS = 10;
const CHUNK_SIZE = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK_SIZE - 1;

/** One column-wise block of `CHUNK_SIZE` entries. */
class Chunk {
  readonly data = new Array<Uint8Array | undefined>(CHUNK_SIZE);
  readonly keys = new Array<string | undefined>(CHUNK_SIZE);
  readonly properties = new Array<Readonly<Record<string, string>> | undefined>(CHUNK_SIZE);
  readonly times = new Float64Array(CHUNK_SIZE);
  /** Sticky-key hash, or -1 until a Key_Shared cursor needs it. */
  readonly hashes = new Int32Array(CHUNK_SIZE);
}

/**
 * @internal The append-only log of one partition (or of a non-partitioned topic) and its
 * subscriptions' cursors.
 *
 * Entries are stored column by column in fixed-size chunks rather than as one object each: a
 * backlog of a million messages is then a few hundred chunks, not a million objects for the garbage
 * collector to copy out of the young generation, and neither appending nor trimming ever copies
 * entries. A chunk is dropped as soon as all its entries are trimmed, so memory comes back.
 *
 * Entries before every cursor's mark-delete position are trimmed; with no cursor at all nothing is
 * trimmed (the topic behaves as if it had an unlimited retention policy).
 */
export class PartitionLog {
  /** Entry id of the oldest retained entry. */
  firstEntryId = 0;
  /** Entry id the next published message gets. */
  nextEntryId = 0;
  readonly cursors = new Map<string, Cursor>();
  /** `cursors` values, for allocation-free iteration on the publish and ack paths. */
  cursorList: Cursor[] = [];
  /** Message ids are `idPrefix + entryId`. */
  readonly idPrefix: string;
  #chunks: Chunk[] = [];
  /** Entry id of the first slot of `#chunks[0]`. */
  #base = 0;

  constructor(
    /** The partition's topic name (`<topic>-partition-<i>`), or the topic itself. */
    readonly name: string,
    /** Partition index, -1 for a non-partitioned topic (as Pulsar's `MessageId.partition`). */
    readonly partitionIndex: number,
  ) {
    this.idPrefix = `${partitionIndex}:`;
  }

  /** Number of retained entries. */
  get length(): number {
    return this.nextEntryId - this.firstEntryId;
  }

  /** Store a message; returns its entry id. */
  append(
    data: Uint8Array,
    partitionKey: string | undefined,
    properties: Readonly<Record<string, string>>,
    publishTime: number,
    hash: number,
  ): number {
    const entryId = this.nextEntryId;
    const offset = entryId - this.#base;
    const index = offset >>> CHUNK_BITS;
    const chunk = index < this.#chunks.length ? this.#chunks[index]! : this.#grow();
    const slot = offset & CHUNK_MASK;
    chunk.data[slot] = data;
    chunk.keys[slot] = partitionKey;
    chunk.properties[slot] = properties;
    chunk.times[slot] = publishTime;
    chunk.hashes[slot] = hash;
    return this.nextEntryId++;
  }

  // Accessors of a retained entry (firstEntryId ≤ entryId < nextEntryId; not checked: hot path).

  data(entryId: number): Uint8Array {
    const offset = entryId - this.#base;
    return this.#chunks[offset >>> CHUNK_BITS]!.data[offset & CHUNK_MASK]!;
  }

  partitionKey(entryId: number): string | undefined {
    const offset = entryId - this.#base;
    return this.#chunks[offset >>> CHUNK_BITS]!.keys[offset & CHUNK_MASK];
  }

  properties(entryId: number): Readonly<Record<string, string>> {
    const offset = entryId - this.#base;
    return this.#chunks[offset >>> CHUNK_BITS]!.properties[offset & CHUNK_MASK]!;
  }

  publishTime(entryId: number): number {
    const offset = entryId - this.#base;
    return this.#chunks[offset >>> CHUNK_BITS]!.times[offset & CHUNK_MASK]!;
  }

  /** The sticky-key hash of an entry, computed on first use. */
  hash(entryId: number): number {
    const offset = entryId - this.#base;
    const chunk = this.#chunks[offset >>> CHUNK_BITS]!;
    const slot = offset & CHUNK_MASK;
    let hash = chunk.hashes[slot]!;
    if (hash < 0) {
      hash = stickyKeyHash(chunk.keys[slot]);
      chunk.hashes[slot] = hash;
    }
    return hash;
  }

  /** Drop entries every subscription has acknowledged. */
  trim(): void {
    const cursors = this.cursorList;
    if (cursors.length === 0) return;
    let low = cursors[0]!.markDelete;
    for (let i = 1; i < cursors.length; i++) low = Math.min(low, cursors[i]!.markDelete);
    if (low <= this.firstEntryId) return;
    this.firstEntryId = low;
    // Whole chunks go at once; the trimmed head of a partly used chunk lives until the chunk goes.
    const drop = (low - this.#base) >>> CHUNK_BITS;
    if (drop === 0) return;
    this.#chunks = drop >= this.#chunks.length ? [] : this.#chunks.slice(drop);
    this.#base += drop * CHUNK_SIZE;
  }

  #grow(): Chunk {
    const chunk = new Chunk();
    this.#chunks.push(chunk);
    return chunk;
  }
}

/** @internal A topic: one log when non-partitioned, else one per partition. */
export class TopicState {
  /** Round-robin position for messages without a partition key. */
  roundRobin = 0;

  constructor(
    readonly name: string,
    /** 0 for a non-partitioned topic. */
    readonly partitions: number,
    readonly logs: readonly PartitionLog[],
  ) {}
}
