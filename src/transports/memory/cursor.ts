import { deadLetterMessage } from '../dead-letter.js';
import type { SubscriptionType } from '../types.js';
import { MemoryDelivery, type ConsumerState } from './consumer.js';
import { Deque } from '../../internal/deque.js';
import { HashRing } from './hash-ring.js';
import type { BrokerHost } from './host.js';
import type { PartitionLog } from './log.js';
import { ACKED, ACKED_MARKER, CursorRecord, DELIVERED, NACKED, WAITING } from './record.js';

/**
 * @internal Key_Shared reads ahead past messages whose hash is blocked (its consumer is full or
 * paused) so that other hashes keep flowing; past this many waiting messages it stops reading.
 */
export const MAX_LOOKAHEAD = 10_000;

/** A hash that stays with `consumer` until its messages there are settled (PIP-379 draining hash). */
interface Draining {
  readonly consumer: ConsumerState;
  count: number;
}

function byEntryId(a: CursorRecord, b: CursorRecord): number {
  return a.entryId - b.entryId;
}

function byName(a: ConsumerState, b: ConsumerState): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * @internal One subscription on one partition: Pulsar's managed cursor plus its dispatcher.
 *
 * `window` holds a record for every entry in [markDelete, readPosition): read, not yet acknowledged
 * in order. Entries before `markDelete` are acknowledged; entries from `readPosition` on were never
 * read. `replay` holds records to (re)deliver before new entries, in entry-id order; `incoming`
 * collects records going back to it between rounds (merged, sorted, at the next round).
 */
export class Cursor {
  readonly log: PartitionLog;
  readonly name: string;
  readonly #host: BrokerHost;
  type: SubscriptionType;
  consumers: ConsumerState[] = [];
  markDelete: number;
  readPosition: number;
  readonly window = new Deque<CursorRecord>();
  /** Records in `window` already acknowledged (acknowledged out of order). */
  ackedAhead = 0;
  /** Records in state `DELIVERED`. */
  deliveredCount = 0;
  replay: CursorRecord[] = [];
  incoming: CursorRecord[] = [];
  /** Queued for the next dispatch round. */
  dirty = false;
  #roundRobin = 0;
  /** Shared: the consumer receiving the current run of consecutive messages, and its length. */
  #runConsumer: ConsumerState | undefined;
  #runLength = 0;
  #ring: HashRing<ConsumerState> | null = null;
  readonly #draining = new Map<number, Draining>();
  /** Hashes that could not be delivered in the current Key_Shared round; later messages of them wait. */
  #blocked: Set<number> | null = null;
  #active: ConsumerState | null = null;
  #switchTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(log: PartitionLog, name: string, type: SubscriptionType, start: number, host: BrokerHost) {
    this.log = log;
    this.name = name;
    this.type = type;
    this.markDelete = start;
    this.readPosition = start;
    this.#host = host;
  }

  /** Whether something may be dispatchable: records to replay or entries not read yet. */
  hasWork(): boolean {
    return this.replay.length !== 0 || this.incoming.length !== 0 || this.readPosition < this.log.nextEntryId;
  }

  /** Messages not acknowledged by this subscription (Pulsar's `msgBacklog`). */
  get backlog(): number {
    return this.log.nextEntryId - this.markDelete - this.ackedAhead;
  }

  // ---------------------------------------------------------------------------------------------
  // Consumers

  /** A consumer joined (the subscription takes its type when it had no consumer). */
  attach(consumer: ConsumerState): void {
    if (this.consumers.length === 0) this.#reset(consumer.type);
    this.consumers.push(consumer);
    consumer.cursors.push(this);
    if (this.type === 'key-shared') this.#rebuildRing();
    else if (this.type === 'failover') this.#elect();
    this.#host.markDirty(this);
  }

  /** A consumer left: closed, killed, or the broker is closing. */
  detach(consumer: ConsumerState): void {
    const index = this.consumers.indexOf(consumer);
    if (index < 0) return;
    this.consumers.splice(index, 1);
    // Its unacknowledged messages go to the others at once: in Pulsar the broker redelivers a
    // disconnected consumer's pending messages, whatever its handlers are still doing.
    if (this.deliveredCount !== 0) {
      const window = this.window;
      for (let i = 0; i < window.length; i++) {
        const record = window.get(i)!;
        if (record.state === DELIVERED && record.holder === consumer) this.#revoke(record, true);
      }
    }
    if (this.type === 'key-shared') this.#rebuildRing();
    else if (this.type === 'failover') {
      if (this.#active === consumer) this.#active = null;
      this.#elect();
    }
    this.#host.markDirty(this);
  }

  /**
   * The broker loaded the subscription again (a topic unload, a broker restart), its consumers
   * gone: what it had not acknowledged is read again from the stored position, as new — redelivery
   * counts and pending negative acknowledgements lived in the old broker's memory.
   */
  reload(): void {
    const window = this.window;
    for (let i = 0; i < window.length; i++) {
      const record = window.get(i)!;
      if (record.state === WAITING) record.redeliveryCount = 0;
      else if (record.state === NACKED) {
        record.redeliveryCount = 0;
        record.state = WAITING;
        this.incoming.push(record);
      }
    }
    if (this.consumers.length !== 0) this.#host.markDirty(this);
  }

  /** Stop timers (broker closing). */
  close(): void {
    this.#cancelSwitch();
  }

  #cancelSwitch(): void {
    if (this.#switchTimer !== null) clearTimeout(this.#switchTimer);
    this.#switchTimer = null;
  }

  /** The subscription type changes only while it has no consumer; forget the old type's state. */
  #reset(type: SubscriptionType): void {
    this.type = type;
    this.#ring = null;
    this.#draining.clear();
    this.#active = null;
    this.#cancelSwitch();
  }

  // ---------------------------------------------------------------------------------------------
  // Settlement

  /** Acknowledge `record` for the subscription. Idempotent. */
  ack(record: CursorRecord): void {
    const state = record.state;
    if (state === ACKED) return;
    if (state === DELIVERED) this.#release(record);
    record.state = ACKED;
    if (record.entryId !== this.markDelete) {
      this.ackedAhead++;
      // An ack hole (an older message still unacknowledged, e.g. a slow key's) can keep millions
      // of acknowledged entries in the window: keep one shared marker for them, not their records.
      this.window.set(record.entryId - this.markDelete, ACKED_MARKER);
      return;
    }
    const window = this.window;
    window.shift();
    this.markDelete++;
    if (this.ackedAhead !== 0) {
      for (let next = window.peek(); next !== undefined && next.state === ACKED; next = window.peek()) {
        window.shift();
        this.markDelete++;
        this.ackedAhead--;
      }
    }
    this.log.trim();
  }

  /** The holder negatively acknowledged `record` (state `DELIVERED`). */
  nack(record: CursorRecord, delayMs: number): void {
    this.#release(record);
    record.state = NACKED;
    if (this.type !== 'failover') record.redeliveryCount++;
    this.#host.scheduleNack(record, delayMs);
  }

  /** The nack delay of `record` passed. */
  nackExpired(record: CursorRecord): void {
    if (record.state !== NACKED) return;
    record.state = WAITING;
    this.incoming.push(record);
    if (this.consumers.length !== 0) this.#host.markDirty(this);
  }

  /** Ack timeout: take back every message delivered at or before `deadline` and still unsettled. */
  expire(deadline: number): void {
    if (this.deliveredCount === 0) return;
    const window = this.window;
    let expired = false;
    for (let i = 0; i < window.length; i++) {
      const record = window.get(i)!;
      if (record.state === DELIVERED && record.deliveredAt <= deadline) {
        this.#revoke(record, true);
        expired = true;
      }
    }
    if (expired) this.#host.markDirty(this);
  }

  /** `record` leaves state `DELIVERED`. */
  #release(record: CursorRecord): void {
    this.deliveredCount--;
    if (record.draining) {
      record.draining = false;
      const hash = this.log.hash(record.entryId);
      const draining = this.#draining.get(hash);
      if (draining !== undefined && --draining.count === 0) this.#draining.delete(hash);
    }
  }

  /**
   * Take `record` back from its holder and queue it for redelivery. The holder's delivery keeps
   * counting against its receiver queue until the engine settles it: the engine still holds it, and
   * the queue size is what bounds the engine's memory. It may still acknowledge it.
   */
  #revoke(record: CursorRecord, redelivery: boolean): void {
    this.#release(record);
    record.state = WAITING;
    // Failover keeps no redelivery count (Pulsar disables its redelivery tracker there).
    if (redelivery && this.type !== 'failover') record.redeliveryCount++;
    this.incoming.push(record);
  }

  // ---------------------------------------------------------------------------------------------
  // Dispatch

  /**
   * Deliver what the subscription type allows into the consumers' round batches. Returns true when
   * a consumer stopped only at the round cap while work remains, so another round is due at once.
   */
  dispatch(now: number): boolean {
    const consumers = this.consumers;
    if (consumers.length === 0) return false;
    if (this.incoming.length !== 0) this.#mergeIncoming();
    if (this.type === 'key-shared') this.#dispatchKeyShared(now);
    else if (this.type === 'shared') this.#dispatchShared(now);
    else this.#dispatchFailover(now);
    if (!this.hasWork()) return false;
    for (let i = 0; i < consumers.length; i++) if (consumers[i]!.cappedThisRound()) return true;
    return false;
  }

  #mergeIncoming(): void {
    const incoming = this.incoming;
    this.incoming = [];
    incoming.sort(byEntryId);
    const replay = this.replay;
    if (replay.length === 0) {
      this.replay = incoming;
      return;
    }
    const merged: CursorRecord[] = [];
    let i = 0;
    let j = 0;
    while (i < replay.length && j < incoming.length) {
      merged.push(replay[i]!.entryId <= incoming[j]!.entryId ? replay[i++]! : incoming[j++]!);
    }
    while (i < replay.length) merged.push(replay[i++]!);
    while (j < incoming.length) merged.push(incoming[j++]!);
    this.replay = merged;
  }

  #read(): CursorRecord {
    const record = new CursorRecord(this.readPosition++, this);
    this.window.push(record);
    return record;
  }

  #deliver(record: CursorRecord, consumer: ConsumerState, now: number): void {
    const delivery = new MemoryDelivery(record, consumer);
    record.state = DELIVERED;
    record.delivery = delivery;
    record.holder = consumer;
    record.deliveredAt = now;
    this.deliveredCount++;
    consumer.unsettled++;
    const batch = consumer.batch;
    if (batch.length === 0) this.#host.enlist(consumer);
    batch.push(delivery);
  }

  /**
   * The client-side dead-letter policy of the consumer that last received `record`: once it would
   * be redelivered more than `maxRedeliverCount` times, it goes to the dead-letter topic instead.
   * Shared and Key_Shared only (as Pulsar).
   */
  #deadLetterIfExhausted(record: CursorRecord): boolean {
    const last = record.holder;
    const previous = record.delivery;
    if (last === null || previous === null) return false;
    const max = last.maxRedeliverCount;
    if (max === undefined || record.redeliveryCount <= max) return false;
    try {
      this.#host.publish(
        last.deadLetterTopic,
        deadLetterMessage(previous, {
          code: 'EC_MAX_REDELIVER',
          message: `redelivered ${previous.redeliveryCount} times`,
          attempts: 0,
          consumerName: last.name,
        }),
      );
    } catch {
      // The broker is closing: deliver it normally rather than lose it.
      return false;
    }
    this.ack(record);
    return true;
  }

  #pickShared(): ConsumerState | undefined {
    const current = this.#runConsumer;
    if (
      current !== undefined &&
      this.#runLength < this.#host.sharedRoundRobinBatchSize &&
      !current.closed &&
      current.canTake()
    ) {
      this.#runLength++;
      return current;
    }
    const next = this.#nextShared();
    this.#runConsumer = next;
    this.#runLength = next === undefined ? 0 : 1;
    return next;
  }

  #nextShared(): ConsumerState | undefined {
    const consumers = this.consumers;
    const n = consumers.length;
    let index = this.#roundRobin;
    for (let k = 0; k < n; k++) {
      if (index >= n) index = 0;
      const consumer = consumers[index++]!;
      if (consumer.canTake()) {
        this.#roundRobin = index;
        return consumer;
      }
    }
    return undefined;
  }

  #dispatchShared(now: number): void {
    const replay = this.replay;
    if (replay.length !== 0) {
      let i = 0;
      for (; i < replay.length; i++) {
        const record = replay[i]!;
        if (record.state !== WAITING) continue;
        if (record.redeliveryCount !== 0 && this.#deadLetterIfExhausted(record)) continue;
        const consumer = this.#pickShared();
        if (consumer === undefined) break;
        this.#deliver(record, consumer, now);
      }
      if (i < replay.length) {
        this.replay = replay.slice(i);
        return;
      }
      replay.length = 0;
    }
    const end = this.log.nextEntryId;
    while (this.readPosition < end) {
      const consumer = this.#pickShared();
      if (consumer === undefined) return;
      this.#deliver(this.#read(), consumer, now);
    }
  }

  #dispatchFailover(now: number): void {
    const consumer = this.#active;
    if (consumer === null || !consumer.canTake()) return;
    const replay = this.replay;
    if (replay.length !== 0) {
      let i = 0;
      for (; i < replay.length; i++) {
        const record = replay[i]!;
        if (record.state !== WAITING) continue;
        if (!consumer.canTake()) break;
        this.#deliver(record, consumer, now);
      }
      if (i < replay.length) {
        this.replay = replay.slice(i);
        return;
      }
      replay.length = 0;
    }
    const end = this.log.nextEntryId;
    while (this.readPosition < end && consumer.canTake()) this.#deliver(this.#read(), consumer, now);
  }

  #dispatchKeyShared(now: number): void {
    const consumers = this.consumers;
    let available = 0;
    for (let i = 0; i < consumers.length; i++) if (consumers[i]!.canTake()) available++;
    if (available === 0) return;
    this.#blocked = null;
    const replay = this.replay;
    if (replay.length !== 0) {
      const remaining: CursorRecord[] = [];
      for (let i = 0; i < replay.length; i++) {
        const record = replay[i]!;
        if (record.state !== WAITING) continue;
        if (available === 0) {
          remaining.push(record);
          continue;
        }
        if (record.redeliveryCount !== 0 && this.#deadLetterIfExhausted(record)) continue;
        const consumer = this.#routeKeyShared(record, now);
        if (consumer === undefined) remaining.push(record);
        else if (!consumer.canTake()) available--;
      }
      this.replay = remaining;
    }
    const end = this.log.nextEntryId;
    while (available !== 0 && this.readPosition < end && this.replay.length < MAX_LOOKAHEAD) {
      const record = this.#read();
      const consumer = this.#routeKeyShared(record, now);
      if (consumer === undefined) this.replay.push(record);
      else if (!consumer.canTake()) available--;
    }
    this.#blocked = null;
  }

  /**
   * Deliver `record` to the consumer its hash belongs to: the consumer still draining it, else the
   * ring's owner. When that consumer cannot take it now, the hash is blocked for the rest of the
   * round so that no later message of it overtakes this one. Returns the consumer, or `undefined`.
   */
  #routeKeyShared(record: CursorRecord, now: number): ConsumerState | undefined {
    const hash = this.log.hash(record.entryId);
    const blocked = this.#blocked;
    if (blocked !== null && blocked.has(hash)) return undefined;
    const draining = this.#draining.size === 0 ? undefined : this.#draining.get(hash);
    const consumer = draining !== undefined ? draining.consumer : this.#ring?.owner(hash);
    if (consumer === undefined || !consumer.canTake()) {
      (this.#blocked ??= new Set()).add(hash);
      return undefined;
    }
    this.#deliver(record, consumer, now);
    if (draining !== undefined) {
      draining.count++;
      record.draining = true;
    }
    return consumer;
  }

  /**
   * New ring after a consumer joined or left. A hash whose owner changed while messages of it are
   * out with its old owner keeps going to that old owner until they are all settled (PIP-379), so
   * that two consumers never hold one key at once.
   */
  #rebuildRing(): void {
    const ring = this.consumers.length === 0 ? null : new HashRing(this.consumers, this.#host.hashRangePoints);
    this.#ring = ring;
    if (ring === null || this.deliveredCount === 0) return;
    const window = this.window;
    for (let i = 0; i < window.length; i++) {
      const record = window.get(i)!;
      if (record.state !== DELIVERED || record.draining) continue;
      const hash = this.log.hash(record.entryId);
      const holder = record.holder!;
      if (ring.owner(hash) === holder) continue;
      let draining = this.#draining.get(hash);
      if (draining === undefined) {
        draining = { consumer: holder, count: 0 };
        this.#draining.set(hash, draining);
      }
      draining.count++;
      record.draining = true;
    }
  }

  /** Failover: the consumer that should be active on this partition. */
  #desiredActive(): ConsumerState | undefined {
    const sorted = [...this.consumers].sort(byName);
    return sorted[Math.max(0, this.log.partitionIndex) % sorted.length];
  }

  /**
   * Failover election after a consumer joined or left. With no active consumer (the first one
   * joined, or the active one left) the new one takes over at once. Otherwise the current one keeps
   * receiving until the failover delay has passed (Pulsar's activeConsumerFailoverDelayTimeMillis).
   */
  #elect(): void {
    const desired = this.#desiredActive();
    if (desired === undefined) {
      this.#active = null;
      this.#cancelSwitch();
      return;
    }
    if (this.#active === null || desired === this.#active) {
      this.#active = desired;
      this.#cancelSwitch();
      return;
    }
    if (this.#switchTimer !== null) return;
    this.#switchTimer = setTimeout(() => this.#switchActive(), this.#host.failoverDelayMs);
    this.#switchTimer.unref();
  }

  #switchActive(): void {
    this.#switchTimer = null;
    const desired = this.#desiredActive();
    if (desired === undefined || desired === this.#active) return;
    // The old consumer is not disconnected and may still acknowledge what it has; the broker rewinds
    // and gives every unacknowledged message to the new one. Whatever both process is processed twice.
    if (this.deliveredCount !== 0) {
      const window = this.window;
      for (let i = 0; i < window.length; i++) {
        const record = window.get(i)!;
        if (record.state === DELIVERED) this.#revoke(record, false);
      }
    }
    this.#active = desired;
    this.#host.markDirty(this);
  }
}
