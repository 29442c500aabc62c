import { StaleTokenError } from '../errors/stale-token-error.js';
import { VersionConflictError } from '../errors/version-conflict-error.js';
import { isStale } from './check.js';
import type { Fence, FencedRecord } from './types.js';

/**
 * @internal The fenced records of the in-memory stores (`MemoryFencedStore`, `MemoryOutbox`): one
 * record per key, checked for staleness before `ifVersion`, copied with `structuredClone` in and
 * out as a remote store would serialize them. Records are never deleted: forgetting one would
 * forget its highest token and let a stale writer in again.
 */
export class MemoryRecords<V> {
  readonly #records = new Map<string, FencedRecord<V>>();
  #rejected = 0;

  /** A copy of the record of `key`, or `undefined` if nothing was ever accepted for it. */
  get(key: string): FencedRecord<V> | undefined {
    const record = this.#records.get(key);
    return record === undefined ? undefined : copy(record);
  }

  /**
   * Accept `value` under `fence` and return a copy of the new record, or throw `StaleTokenError` /
   * `VersionConflictError` having changed nothing.
   */
  write(key: string, value: V, fence: Fence, ifVersion: number | undefined): FencedRecord<V> {
    const current = this.#records.get(key);
    if (current !== undefined && isStale(fence, current)) {
      this.#rejected += 1;
      throw new StaleTokenError(key, fence.token, current.token, fence.owner);
    }
    const version = current?.version ?? 0;
    if (ifVersion !== undefined && ifVersion !== version) throw new VersionConflictError(key, ifVersion, version);
    // Clone before storing so that a value that cannot be cloned leaves the record untouched.
    const record: FencedRecord<V> = Object.freeze({
      value: structuredClone(value),
      token: fence.token,
      owner: fence.owner,
      version: version + 1,
    });
    this.#records.set(key, record);
    return copy(record);
  }

  /** Writes rejected as stale so far. */
  get rejected(): number {
    return this.#rejected;
  }
}

function copy<V>(record: FencedRecord<V>): FencedRecord<V> {
  return Object.freeze({ ...record, value: structuredClone(record.value) });
}
