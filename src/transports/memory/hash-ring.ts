import { murmur3 } from './murmur3.js';

/** @internal Sticky-key hashes live in [0, 65536), as in Pulsar's Key_Shared selectors. */
export const STICKY_HASH_RANGE = 0x10000;

/** @internal The sticky-key hash of a partition key (`undefined`: every key-less message shares one). */
export function stickyKeyHash(partitionKey: string | undefined): number {
  return murmur3(partitionKey ?? '') & (STICKY_HASH_RANGE - 1);
}

/**
 * @internal A consistent-hash ring over consumers (Pulsar's `ConsistentHashingStickyKeyConsumerSelector`):
 * each consumer puts `points` points on the ring, and a hash belongs to the consumer owning the
 * first point at or after it. A consumer joining or leaving only moves the ranges next to its own
 * points; every other hash keeps its owner. Immutable: rebuilt when the consumer set changes.
 */
export class HashRing<C extends { readonly name: string }> {
  readonly #points: Uint32Array;
  readonly #owners: C[];
  /** The only consumer, when there is one: no search needed. */
  readonly #single: C | undefined;

  constructor(consumers: readonly C[], pointsPerConsumer: number) {
    const placed: Array<{ point: number; consumer: C }> = [];
    for (const consumer of consumers) {
      for (let i = 0; i < pointsPerConsumer; i++) {
        placed.push({ point: stickyKeyHash(`${consumer.name}${i}`), consumer });
      }
    }
    // Ties (two consumers on one point) are broken by name so the ring is the same whatever the
    // order in which consumers joined.
    placed.sort((a, b) =>
      a.point - b.point || (a.consumer.name < b.consumer.name ? -1 : a.consumer.name > b.consumer.name ? 1 : 0),
    );
    this.#points = Uint32Array.from(placed, (p) => p.point);
    this.#owners = placed.map((p) => p.consumer);
    this.#single = consumers.length === 1 ? consumers[0] : undefined;
  }

  /** The consumer owning `hash`, or `undefined` on an empty ring. */
  owner(hash: number): C | undefined {
    if (this.#single !== undefined) return this.#single;
    const points = this.#points;
    let low = 0;
    let high = points.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (points[mid]! < hash) low = mid + 1;
      else high = mid;
    }
    return this.#owners[low === points.length ? 0 : low];
  }
}
