import { ConfigurationError, TransportError, toError } from '../../errors/index.js';
import type { MessageMeta, OutgoingMessage, SubscribeOptions } from '../types.js';
import { deferred, type Deferred } from '../../internal/deferred.js';
import { validateSubscribeOptions } from '../validate.js';
import { ConsumerState, type Reconnecting } from './consumer.js';
import { Cursor } from './cursor.js';
import { STICKY_HASH_RANGE } from './hash-ring.js';
import type { BrokerHost } from './host.js';
import { PartitionLog, TopicState } from './log.js';
import { murmur3 } from './murmur3.js';
import type { ResolvedBrokerOptions } from './options.js';
import { NACKED, type CursorRecord } from './record.js';

const EMPTY_PROPERTIES: Readonly<Record<string, string>> = Object.freeze({});

/** Counters of one subscription on one topic, see `MemoryBroker.topicStats`. */
export interface MemoryTopicStats {
  /** Messages the subscription has not acknowledged (Pulsar's `msgBacklog`). */
  readonly backlog: number;
  /** Messages delivered to a consumer and not yet acknowledged, nacked or dead-lettered. */
  readonly unacked: number;
  /** Consumers connected to the subscription. */
  readonly consumers: number;
  /** Entries the topic's log still holds, all partitions together. */
  readonly retainedEntries: number;
}

interface PendingNack {
  readonly due: number;
  readonly record: CursorRecord;
}

function closedError(): TransportError {
  return new TransportError('Memory broker closed', { retriable: false });
}

function downError(): TransportError {
  return new TransportError('Memory broker is restarting', { retriable: true });
}

/**
 * @internal The broker itself; `MemoryBroker` is its public face. Everything is synchronous except
 * dispatch, which runs in rounds on `setImmediate`: a publish, ack or subscribe only marks cursors
 * dirty, and one round later delivers whatever became possible, one `onMessages` call per consumer.
 */
export class BrokerCore implements BrokerHost {
  readonly hashRangePoints: number;
  readonly sharedRoundRobinBatchSize: number;
  readonly failoverDelayMs: number;
  readonly #options: ResolvedBrokerOptions;
  readonly #topics = new Map<string, TopicState>();
  /** Every log by its own name: a non-partitioned topic, or one partition of a partitioned one. */
  readonly #logs = new Map<string, PartitionLog>();
  #cursors: Cursor[] = [];
  readonly #consumers = new Set<ConsumerState>();
  #dirty: Cursor[] = [];
  #roundConsumers: ConsumerState[] = [];
  #immediate: ReturnType<typeof setImmediate> | null = null;
  /** Negatively acknowledged records by due time: one timer for all of them. */
  #nacks: PendingNack[] = [];
  #nackTimer: ReturnType<typeof setTimeout> | null = null;
  #nackTimerDue = Infinity;
  #ackTimer: ReturnType<typeof setInterval> | null = null;
  #closed = false;
  /** Set by the fault kit: transports created from now on declare `acknowledgementsCanBeLost`. */
  faultsEnabled = false;
  /** Set by the fault kit while it loses acknowledgements: whether to lose one of this consumer. */
  ackLoss: ((consumer: ConsumerState) => boolean) | null = null;
  /** A fault holds dispatch: cursors are marked dirty, no round runs. */
  #dispatchPaused = false;
  /** A fault restarts the broker: no connection until it is up again. */
  #down: Deferred | null = null;
  #clockNow = 0;
  #clockUses = 0;

  constructor(options: ResolvedBrokerOptions) {
    this.#options = options;
    this.hashRangePoints = options.hashRangePoints;
    this.sharedRoundRobinBatchSize = options.sharedRoundRobinBatchSize;
    this.failoverDelayMs = options.activeConsumerFailoverDelayMs;
    const ackTimeoutMs = options.ackTimeoutMs;
    if (ackTimeoutMs > 0) {
      const tick = Math.min(1000, Math.max(5, Math.floor(ackTimeoutMs / 4)));
      this.#ackTimer = setInterval(() => this.#expireUnacked(ackTimeoutMs), tick);
      this.#ackTimer.unref();
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---------------------------------------------------------------------------------------------
  // Topics and publishing

  createTopic(topic: string, partitions: number): void {
    this.#assertOpen();
    requireTopic(topic);
    if (typeof partitions !== 'number' || !Number.isSafeInteger(partitions) || partitions < 0) {
      throw new ConfigurationError('partitions', 'an integer ≥ 0', partitions);
    }
    const existing = this.#topics.get(topic);
    if (existing !== undefined) {
      if (existing.partitions === partitions) return;
      throw new ConfigurationError(
        'partitions',
        `${existing.partitions} (topic "${topic}" exists with ${existing.partitions === 0 ? 'no partitions' : `${existing.partitions} partitions`})`,
        partitions,
      );
    }
    this.#create(topic, partitions);
  }

  #create(topic: string, partitions: number): TopicState {
    if (this.#logs.has(topic)) {
      throw new ConfigurationError('topic', 'a name that is not a partition of a partitioned topic', topic);
    }
    const logs: PartitionLog[] = [];
    if (partitions === 0) logs.push(new PartitionLog(topic, -1));
    for (let i = 0; i < partitions; i++) {
      const name = `${topic}-partition-${i}`;
      if (this.#logs.has(name)) {
        throw new ConfigurationError('topic', `a name whose partitions are free ("${name}" exists)`, topic);
      }
      logs.push(new PartitionLog(name, i));
    }
    const state = new TopicState(topic, partitions, logs);
    this.#topics.set(topic, state);
    for (const log of logs) this.#logs.set(log.name, log);
    return state;
  }

  /** The logs of `topic`: all partitions of a partitioned topic, or the one log of a name. */
  #lookup(topic: string): readonly PartitionLog[] | undefined {
    const state = this.#topics.get(topic);
    if (state !== undefined) return state.logs;
    const log = this.#logs.get(topic);
    return log === undefined ? undefined : [log];
  }

  /** `#lookup`, creating a non-partitioned topic when the name is new (Pulsar's auto-creation). */
  ensure(topic: string): readonly PartitionLog[] {
    this.#assertOpen();
    requireTopic(topic);
    return this.#lookup(topic) ?? this.#create(topic, 0).logs;
  }

  publish(topic: string, message: OutgoingMessage): string {
    if (this.#closed) throw closedError();
    const state = this.#topics.get(topic);
    if (state !== undefined) return this.#route(state, message);
    const log = this.#logs.get(topic);
    if (log !== undefined) return this.#append(log, message, -1);
    requireTopic(topic);
    return this.#route(this.#create(topic, 0), message);
  }

  /**
   * Pick the partition as Pulsar's default router does: by the key's hash when there is a key,
   * round robin when there is none.
   */
  #route(state: TopicState, message: OutgoingMessage): string {
    const partitions = state.partitions;
    if (partitions === 0) return this.#append(state.logs[0]!, message, -1);
    const key = message.partitionKey;
    if (key === undefined) {
      const index = state.roundRobin;
      state.roundRobin = index + 1 === partitions ? 0 : index + 1;
      return this.#append(state.logs[index]!, message, -1);
    }
    const hash = murmur3(key);
    return this.#append(state.logs[hash % partitions]!, message, hash & (STICKY_HASH_RANGE - 1));
  }

  #append(log: PartitionLog, message: OutgoingMessage, hash: number): string {
    if (typeof message !== 'object' || message === null || !(message.data instanceof Uint8Array)) {
      throw new TransportError('Cannot publish: message.data must be a Uint8Array', {
        retriable: false,
        context: { topic: log.name },
      });
    }
    const properties = message.properties;
    const entryId = log.append(
      message.data,
      message.partitionKey,
      properties === undefined ? EMPTY_PROPERTIES : Object.freeze({ ...properties }),
      this.#clock(),
      hash,
    );
    const cursors = log.cursorList;
    for (let i = 0; i < cursors.length; i++) {
      const cursor = cursors[i]!;
      if (!cursor.dirty && cursor.consumers.length !== 0) this.markDirty(cursor);
    }
    return log.idPrefix + entryId;
  }

  /**
   * `Date.now()` for publish times, read at most once per 256 publishes and once per synchronous
   * run of code: a clock read costs about as much as the rest of a publish, and publish times only
   * have millisecond resolution anyway.
   */
  #clock(): number {
    if (this.#clockUses === 0) {
      this.#clockNow = Date.now();
      this.#clockUses = 256;
      queueMicrotask(this.#expireClock);
    }
    this.#clockUses--;
    return this.#clockNow;
  }

  readonly #expireClock = (): void => {
    this.#clockUses = 0;
  };

  // ---------------------------------------------------------------------------------------------
  // Consumers

  /**
   * Connect a consumer. Throws `ConfigurationError` (bad options) or `TransportError` (refused;
   * retriable while the broker restarts). `acksMayBeLost`: its transport declared
   * `acknowledgementsCanBeLost`.
   */
  subscribe(options: SubscribeOptions, acksMayBeLost = false): ConsumerState {
    validateSubscribeOptions(options);
    const logs = this.ensure(options.topic);
    if (this.#down !== null) throw downError();
    const { subscription, consumerName, type } = options;
    for (const log of logs) {
      const cursor = log.cursors.get(subscription);
      if (cursor === undefined) continue;
      const context = { topic: log.name, subscription, consumerName };
      if (cursor.consumers.length !== 0 && cursor.type !== type) {
        throw new TransportError(
          `Subscription "${subscription}" on "${log.name}" is of different type (${cursor.type}, not ${type})`,
          { retriable: false, context },
        );
      }
      if (cursor.consumers.some((c) => c.name === consumerName)) {
        throw new TransportError(
          `Consumer name "${consumerName}" is already connected to subscription "${subscription}" on "${log.name}"`,
          { retriable: false, context },
        );
      }
    }
    const consumer = new ConsumerState(
      options,
      this,
      Math.min(options.receiverQueueSize, this.#options.maxUnackedMessagesPerConsumer),
      options.nackRedeliveryDelayMs ?? this.#options.nackRedeliveryDelayMs,
      acksMayBeLost,
    );
    for (const log of logs) {
      let cursor = log.cursors.get(subscription);
      if (cursor === undefined) {
        // The position only matters when the subscription is created; afterwards it is durable.
        const start = options.initialPosition === 'earliest' ? log.firstEntryId : log.nextEntryId;
        cursor = new Cursor(log, subscription, type, start, this);
        log.cursors.set(subscription, cursor);
        log.cursorList.push(cursor);
        this.#cursors.push(cursor);
        // A topic stops retaining what its first subscription starts after.
        log.trim();
      }
      cursor.attach(consumer);
    }
    this.#consumers.add(consumer);
    return consumer;
  }

  /**
   * Disconnect a consumer: closed gracefully or because the broker closes (`by` undefined), or by
   * the broker (`by` says why: killed, a dropped connection). Idempotent.
   */
  disconnect(consumer: ConsumerState, by: string | undefined): void {
    if (consumer.closed) return;
    consumer.closed = true;
    consumer.disconnectedBy = by;
    for (const cursor of consumer.cursors) cursor.detach(consumer);
    consumer.cursors = [];
    consumer.batch = [];
    this.#consumers.delete(consumer);
  }

  kill(consumerName: string): boolean {
    let found = false;
    for (const consumer of [...this.#consumers]) {
      if (consumer.name !== consumerName) continue;
      found = true;
      this.disconnect(consumer, 'killed');
      consumer.report(consumer.closedError());
      this.#deliveriesLost(consumer);
    }
    return found;
  }

  /** The consumers connected now. */
  connected(): readonly ConsumerState[] {
    return [...this.#consumers];
  }

  /**
   * Drop the connection of `consumer`, as a network failure or a broker would: its unacknowledged
   * messages go to the others, its deliveries die, its `onError` and `onDeliveriesLost` are told.
   * Returns its subscription handle, which the caller tells to connect again (after a reload, say).
   */
  drop(consumer: ConsumerState, by: string): Reconnecting | undefined {
    if (consumer.closed) return undefined;
    this.disconnect(consumer, by);
    consumer.report(
      new TransportError(`Consumer "${consumer.name}" lost its connection to the memory broker (${by}); reconnecting`, {
        retriable: true,
        context: { topic: consumer.topic, subscription: consumer.subscription, consumerName: consumer.name },
      }),
    );
    this.#deliveriesLost(consumer);
    return consumer.connection;
  }

  #deliveriesLost(consumer: ConsumerState): void {
    try {
      consumer.onDeliveriesLost?.();
    } catch {
      // The consumer's reaction must not break the broker.
    }
  }

  loseAck(consumer: ConsumerState): boolean {
    const loss = this.ackLoss;
    return loss !== null && loss(consumer);
  }

  // ---------------------------------------------------------------------------------------------
  // Faults: held dispatch, restarts, reloaded subscriptions

  get dispatchPaused(): boolean {
    return this.#dispatchPaused;
  }

  /** Hold dispatch: publishes, acks and timers mark cursors dirty as usual; no round delivers. */
  pauseDispatch(): void {
    this.#dispatchPaused = true;
  }

  resumeDispatch(): void {
    if (!this.#dispatchPaused) return;
    this.#dispatchPaused = false;
    if (this.#dirty.length !== 0 && this.#immediate === null && !this.#closed) this.#immediate = setImmediate(this.#runRound);
  }

  get down(): boolean {
    return this.#down !== null;
  }

  /** Start a restart: refuse connections until {@link BrokerCore.comeUp}. The caller drops the existing ones. */
  goDown(): void {
    this.#assertOpen();
    if (this.#down !== null) return;
    this.#down = deferred();
  }

  /** End a restart: every subscription is loaded again (see `Cursor.reload`), connections are taken. */
  comeUp(): void {
    const down = this.#down;
    if (down === null) return;
    this.#down = null;
    if (!this.#closed) this.reload(this.#cursors);
    down.resolve();
  }

  /** While the broker is down: resolves when it is up again (or closed). */
  whenUp(): Promise<void> | undefined {
    return this.#down?.promise;
  }

  /** The subscriptions of `topic` (every partition of a partitioned topic), or `undefined` for an unknown topic. */
  cursorsOf(topic: string): readonly Cursor[] | undefined {
    return this.#lookup(topic)?.flatMap((log) => log.cursorList);
  }

  /** Load `cursors` again, and forget the negative acks pending on them (they are read again now). */
  reload(cursors: readonly Cursor[]): void {
    for (const cursor of cursors) cursor.reload();
    this.#nacks = this.#nacks.filter((n) => n.record.state === NACKED);
    if (this.#nacks.length === 0 && this.#nackTimer !== null) {
      clearTimeout(this.#nackTimer);
      this.#nackTimer = null;
      this.#nackTimerDue = Infinity;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Dispatch

  markDirty(cursor: Cursor): void {
    if (cursor.dirty || this.#closed) return;
    cursor.dirty = true;
    this.#dirty.push(cursor);
    if (this.#immediate === null && !this.#dispatchPaused) this.#immediate = setImmediate(this.#runRound);
  }

  enlist(consumer: ConsumerState): void {
    this.#roundConsumers.push(consumer);
  }

  readonly #runRound = (): void => {
    this.#immediate = null;
    // Held by a fault: the dirty cursors wait for `resumeDispatch`.
    if (this.#dispatchPaused) return;
    const dirty = this.#dirty;
    this.#dirty = [];
    const now = performance.now();
    let again: Cursor[] | null = null;
    for (let i = 0; i < dirty.length; i++) {
      const cursor = dirty[i]!;
      cursor.dirty = false;
      if (cursor.dispatch(now)) (again ??= []).push(cursor);
    }
    if (again !== null) {
      // Rotate, so that partitions competing for one consumer's round cap take turns going first.
      if (again.length > 1) again.push(again.shift()!);
      for (const cursor of again) this.markDirty(cursor);
    }
    const consumers = this.#roundConsumers;
    this.#roundConsumers = [];
    for (let i = 0; i < consumers.length; i++) {
      const consumer = consumers[i]!;
      const batch = consumer.batch;
      // Closed by another consumer's callback in this round: its batch was already taken back.
      if (batch.length === 0 || consumer.closed) continue;
      consumer.batch = [];
      try {
        consumer.onMessages(batch);
      } catch (error) {
        consumer.report(toError(error));
      }
    }
  };

  scheduleNack(record: CursorRecord, delayMs: number): void {
    const due = performance.now() + delayMs;
    const nacks = this.#nacks;
    // Nacks mostly come in due order (one delay per consumer), so this search usually ends at once.
    let index = nacks.length;
    while (index > 0 && nacks[index - 1]!.due > due) index--;
    nacks.splice(index, 0, { due, record });
    if (due < this.#nackTimerDue) this.#armNackTimer(due);
  }

  #armNackTimer(due: number): void {
    if (this.#nackTimer !== null) clearTimeout(this.#nackTimer);
    this.#nackTimerDue = due;
    this.#nackTimer = setTimeout(this.#nackTick, Math.max(1, Math.ceil(due - performance.now())));
    this.#nackTimer.unref();
  }

  readonly #nackTick = (): void => {
    this.#nackTimer = null;
    this.#nackTimerDue = Infinity;
    const now = performance.now();
    const nacks = this.#nacks;
    let count = 0;
    while (count < nacks.length && nacks[count]!.due <= now) count++;
    for (const { record } of nacks.splice(0, count)) record.cursor.nackExpired(record);
    const next = nacks[0];
    if (next !== undefined) this.#armNackTimer(next.due);
  };

  #expireUnacked(ackTimeoutMs: number): void {
    const deadline = performance.now() - ackTimeoutMs;
    for (const cursor of this.#cursors) cursor.expire(deadline);
  }

  // ---------------------------------------------------------------------------------------------
  // Introspection and shutdown

  topicStats(topic: string, subscription: string): MemoryTopicStats {
    const logs = this.#lookup(topic);
    if (logs === undefined) {
      throw new TransportError(`Topic "${topic}" does not exist`, { retriable: false, context: { topic } });
    }
    let backlog = 0;
    let unacked = 0;
    let retainedEntries = 0;
    const consumers = new Set<ConsumerState>();
    for (const log of logs) {
      retainedEntries += log.length;
      const cursor = log.cursors.get(subscription);
      if (cursor === undefined) continue;
      backlog += cursor.backlog;
      unacked += cursor.deliveredCount;
      for (const consumer of cursor.consumers) consumers.add(consumer);
    }
    return { backlog, unacked, consumers: consumers.size, retainedEntries };
  }

  peek(topic: string): readonly MessageMeta[] {
    const logs = this.#lookup(topic);
    if (logs === undefined) return [];
    const messages: MessageMeta[] = [];
    for (const log of logs) {
      for (let entryId = log.firstEntryId; entryId < log.nextEntryId; entryId++) {
        messages.push(
          Object.freeze({
            id: log.idPrefix + entryId,
            data: log.data(entryId),
            partitionKey: log.partitionKey(entryId),
            properties: log.properties(entryId),
            redeliveryCount: 0,
            publishTime: log.publishTime(entryId),
            topic: log.name,
          }),
        );
      }
    }
    return messages;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#immediate !== null) clearImmediate(this.#immediate);
    if (this.#nackTimer !== null) clearTimeout(this.#nackTimer);
    if (this.#ackTimer !== null) clearInterval(this.#ackTimer);
    this.#immediate = null;
    this.#nackTimer = null;
    this.#ackTimer = null;
    for (const consumer of [...this.#consumers]) this.disconnect(consumer, undefined);
    for (const cursor of this.#cursors) cursor.close();
    this.#cursors = [];
    this.#dirty = [];
    this.#roundConsumers = [];
    this.#nacks = [];
    this.#topics.clear();
    this.#logs.clear();
    const down = this.#down;
    this.#down = null;
    down?.resolve();
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError();
  }
}

function requireTopic(topic: unknown): void {
  if (typeof topic !== 'string' || topic.length === 0) throw new ConfigurationError('topic', 'a non-empty string', topic);
}
