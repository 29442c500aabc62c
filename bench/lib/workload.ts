/**
 * Deterministic inputs. Every contender of a scenario gets exactly the same sequence of keys and
 * payloads, published to a fresh topic before its run (publishing is not timed).
 */
import type { MemoryBroker } from '../../src/index.js';
import { prng } from './util.js';

export interface Workload {
  /** Distinct keys; `sequence` holds indices into it. */
  readonly keys: readonly string[];
  /** One payload per key: `{"key":"…"}` as UTF-8 JSON, valid for the raw and the JSON codec. */
  readonly payloads: readonly Uint8Array[];
  /** Key index of each event, in publish order. */
  readonly sequence: Int32Array;
}

const encoder = new TextEncoder();

/**
 * `events` events over `keyCount` keys drawn uniformly at random (seeded). With `slowKey`, one more
 * key (index `keyCount`, named `slow`) that gets 1/(keyCount + 1) of the events on average.
 */
export function uniformWorkload(events: number, keyCount: number, seed: number, slowKey = false): Workload {
  const keys: string[] = [];
  for (let i = 0; i < keyCount; i++) keys.push(`key-${i}`);
  if (slowKey) keys.push('slow');
  const payloads = keys.map((key) => encoder.encode(JSON.stringify({ key })));
  const random = prng(seed);
  const sequence = new Int32Array(events);
  const n = keys.length;
  for (let i = 0; i < events; i++) sequence[i] = Math.floor(random() * n);
  return { keys, payloads, sequence };
}

/** Publish `w` to `topic`, skipping key indices for which `skip` returns true. Returns the count. */
export function publishWorkload(
  broker: MemoryBroker,
  topic: string,
  w: Workload,
  skip?: (keyIndex: number) => boolean,
): number {
  broker.createTopic(topic);
  const { keys, payloads, sequence } = w;
  let published = 0;
  for (let i = 0; i < sequence.length; i++) {
    const k = sequence[i]!;
    if (skip !== undefined && skip(k)) continue;
    broker.publish(topic, { data: payloads[k]!, partitionKey: keys[k]! });
    published += 1;
  }
  return published;
}

/** How many events of `w` have key index `k`. */
export function countKey(w: Workload, k: number): number {
  let count = 0;
  for (let i = 0; i < w.sequence.length; i++) if (w.sequence[i] === k) count += 1;
  return count;
}
