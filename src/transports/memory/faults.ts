import { ConfigurationError, TransportError } from '../../errors/index.js';
import { deferred } from '../../internal/deferred.js';
import { booleanOption, integerOption, knownOptions, numberOption, objectOption } from '../../internal/validate.js';
import type { SubscriptionType } from '../types.js';
import { brokerCore, type MemoryBroker } from './broker.js';
import type { ConsumerState, Reconnecting } from './consumer.js';
import type { BrokerCore } from './core.js';
import type { Cursor } from './cursor.js';

/** A connected consumer, as a fault's selector sees it. */
export interface FaultTarget {
  /** Its `consumerName`. */
  readonly name: string;
  readonly topic: string;
  readonly subscription: string;
  readonly type: SubscriptionType;
}

/** Which consumers a fault hits: every one of that name, or every one the predicate accepts. */
export type ConsumerSelector = string | ((consumer: FaultTarget) => boolean);

/** Options of {@link brokerFaults}. */
export interface BrokerFaultsOptions {
  /**
   * How long a consumer whose connection dropped waits before it connects again (after a restart:
   * counted from when the broker is back). A Pulsar client's first reconnection backoff is 100 ms.
   * 0 connects again at once, before the broker's next dispatch round: in `key-shared` the consumer
   * then keeps its keys. Every fault can override it.
   * @default 100
   */
  readonly reconnectDelayMs?: number;
}

/** Options of the faults that drop connections. */
export interface ReconnectOptions {
  /** This fault's {@link BrokerFaultsOptions.reconnectDelayMs}. */
  readonly reconnectDelayMs?: number;
}

/** Options of {@link BrokerFaults.restart}. */
export interface RestartOptions extends ReconnectOptions {
  /**
   * How long the broker stays down: no consumer can connect, nothing is delivered, producers' sends
   * wait.
   * @default 100
   */
  readonly downMs?: number;
}

/**
 * Options of {@link BrokerFaults.loseAcks}. Give `forMs`, `count` or both (the window closes at
 * whichever comes first).
 */
export interface LoseAcksOptions extends ReconnectOptions {
  /** Lose every acknowledgement sent for this long. */
  readonly forMs?: number;
  /** Lose this many acknowledgements (an integer ≥ 1). Without `forMs`, waits for them. */
  readonly count?: number;
  /**
   * Whose acknowledgements to lose.
   * @default every consumer
   */
  readonly consumers?: ConsumerSelector;
  /**
   * When the window closes, drop the connection of every consumer that lost an acknowledgement (it
   * connects again): that is how an acknowledgement gets lost in Pulsar, and what makes the broker
   * deliver its messages again. With `false` they stay with their consumer until its connection
   * drops for another reason (another fault, a close) or the ack timeout takes them back.
   * @default true
   */
  readonly reconnect?: boolean;
}

/** What {@link BrokerFaults.loseAcks} lost. */
export interface LostAcks {
  /** Acknowledgements lost. */
  readonly lost: number;
  /** Names of the consumers that lost them. */
  readonly consumers: readonly string[];
}

/**
 * The faults of a real broker, on the embedded one: for testing handlers' idempotency and the
 * consumer's reconnect handling against the windows a Pulsar broker opens. Each fault follows what
 * Pulsar does, so the consumer goes through the same paths as on Pulsar: a dropped connection's
 * deliveries are `lost` and its consumer is told (`onDeliveriesLost`), its unacknowledged messages
 * go to whoever owns them now, and it connects again like a Pulsar client.
 *
 * Every fault takes effect when it is called, synchronously; its promise resolves when it is over
 * (the connections it dropped are back). Bad arguments reject with a `ConfigurationError`, a closed
 * broker with a `TransportError`. A consumer of a partitioned topic has one connection here, not
 * one per partition.
 */
export interface BrokerFaults {
  /**
   * Drop the connection of the consumers `consumers` selects: their unacknowledged messages go to
   * the consumers that own them now (in `key-shared` and `failover`, routing may move: another
   * consumer takes the keys or the partition while they are away), their deliveries die (`lost`;
   * `ack()` rejects), their `onError` gets a retriable `TransportError`, and after
   * `reconnectDelayMs` they connect again. Resolves with their names once they are connected again.
   */
  dropConnection(consumers: ConsumerSelector, options?: ReconnectOptions): Promise<readonly string[]>;
  /**
   * Unload `topic` (all partitions of a partitioned topic) as the load manager does: every consumer
   * of it is dropped, its subscriptions are loaded again — what they had not acknowledged is
   * delivered again, with redelivery counts back at 0 and negative acks no longer waiting, as on a
   * broker that loaded the topic afresh — and the consumers connect again. Resolves with their names
   * once they are.
   * @throws ConfigurationError (rejects) when the topic does not exist.
   */
  unloadTopic(topic: string, options?: ReconnectOptions): Promise<readonly string[]>;
  /**
   * Restart the broker: every connection drops; for `downMs` nobody can connect (a consumer's
   * `start()` retries) and producers' sends wait; then every subscription is loaded again, as after
   * an unload, and the consumers connect again. Nothing published is lost (`broker.publish` keeps
   * storing, as a producer's pending messages are sent once the broker is back). Resolves with the
   * names of the consumers dropped, once they are connected again.
   */
  restart(options?: RestartOptions): Promise<readonly string[]>;
  /**
   * Stop delivering: consumers receive nothing, while publishes, acknowledgements and timers go on.
   * For `forMs`, or until {@link BrokerFaults.resumeDispatch}. Pausing again extends the pause to the
   * later end. Resolves when dispatch resumes; then whatever became deliverable is delivered.
   */
  pauseDispatch(forMs?: number): Promise<void>;
  /** End a pause of dispatch now. A no-op when dispatch is not paused. */
  resumeDispatch(): void;
  /**
   * Lose acknowledgements: `ack()` succeeds for the consumer, but never reaches the subscription, so
   * the message is delivered again once the connection drops — usually to the consumer that
   * completed it, which must recognise it (`rememberCompleted`; `stats().repeatsSkipped`), else to
   * another one, which runs it again. Resolves when the window has closed (and, with `reconnect`,
   * the consumers are connected again).
   * @throws ConfigurationError (rejects) without `forMs` or `count`, while another window is open,
   * or when a selected consumer subscribed through a transport created before the kit (it was
   * never told that its acknowledgements can be lost).
   */
  loseAcks(options: LoseAcksOptions): Promise<LostAcks>;
}

/** Fault state shared by every kit of one broker. */
interface FaultState {
  pause: { until: number; timer: ReturnType<typeof setTimeout> | undefined; readonly promise: Promise<void>; resolve(): void } | undefined;
  restarting: boolean;
}

const states = new WeakMap<BrokerCore, FaultState>();
const targets = new WeakMap<ConsumerState, FaultTarget>();

function targetOf(consumer: ConsumerState): FaultTarget {
  let target = targets.get(consumer);
  if (target === undefined) {
    target = Object.freeze({ name: consumer.name, topic: consumer.topic, subscription: consumer.subscription, type: consumer.type });
    targets.set(consumer, target);
  }
  return target;
}

function matcher(option: string, selector: unknown): (consumer: ConsumerState) => boolean {
  if (typeof selector === 'string' && selector.length > 0) return (c) => c.name === selector;
  if (typeof selector === 'function') {
    const accept = selector as (consumer: FaultTarget) => boolean;
    return (c) => accept(targetOf(c)) === true;
  }
  throw new ConfigurationError(option, 'a consumer name or a predicate', selector);
}

function closedError(): TransportError {
  return new TransportError('Memory broker closed', { retriable: false });
}

class MemoryBrokerFaults implements BrokerFaults {
  readonly #core: BrokerCore;
  readonly #state: FaultState;
  readonly #reconnectDelayMs: number;

  constructor(core: BrokerCore, state: FaultState, reconnectDelayMs: number) {
    this.#core = core;
    this.#state = state;
    this.#reconnectDelayMs = reconnectDelayMs;
  }

  async dropConnection(consumers: ConsumerSelector, options?: ReconnectOptions): Promise<readonly string[]> {
    const match = matcher('consumers', consumers);
    const delay = this.#delay(options, ['reconnectDelayMs']);
    this.#assertOpen();
    return this.#drop(this.#core.connected().filter(match), 'connection dropped', delay);
  }

  async unloadTopic(topic: string, options?: ReconnectOptions): Promise<readonly string[]> {
    if (typeof topic !== 'string' || topic.length === 0) throw new ConfigurationError('topic', 'a non-empty string', topic);
    const delay = this.#delay(options, ['reconnectDelayMs']);
    this.#assertOpen();
    const cursors = this.#core.cursorsOf(topic);
    if (cursors === undefined) throw new ConfigurationError('topic', 'an existing topic', topic);
    const on = (c: ConsumerState): boolean => c.cursors.some((cursor) => cursors.includes(cursor));
    return this.#drop(this.#core.connected().filter(on), 'topic unloaded', delay, cursors);
  }

  async restart(options: RestartOptions = {}): Promise<readonly string[]> {
    const delay = this.#delay(options, ['downMs', 'reconnectDelayMs']);
    const downMs = numberOption('downMs', options.downMs, 100, 0);
    this.#assertOpen();
    if (this.#state.restarting) {
      throw new ConfigurationError('restart', 'called once the previous restart is over', undefined, 'The broker is already restarting: await the previous restart() first');
    }
    this.#state.restarting = true;
    const core = this.#core;
    core.goDown();
    try {
      const dropped = this.#drop(core.connected(), 'broker restart', delay);
      await new Promise<void>((resolve) => setTimeout(resolve, downMs));
      core.comeUp();
      return await dropped;
    } finally {
      this.#state.restarting = false;
    }
  }

  pauseDispatch(forMs?: number): Promise<void> {
    if (forMs !== undefined) {
      try {
        numberOption('forMs', forMs, 0, 0);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (this.#core.closed) return Promise.reject(closedError());
    this.#core.pauseDispatch();
    const pause = (this.#state.pause ??= { until: 0, timer: undefined, ...deferred() });
    const until = forMs === undefined ? Infinity : performance.now() + forMs;
    if (until > pause.until) {
      pause.until = until;
      if (pause.timer !== undefined) clearTimeout(pause.timer);
      pause.timer = until === Infinity ? undefined : setTimeout(() => this.resumeDispatch(), forMs);
    }
    return pause.promise;
  }

  resumeDispatch(): void {
    const pause = this.#state.pause;
    this.#state.pause = undefined;
    if (pause?.timer !== undefined) clearTimeout(pause.timer);
    this.#core.resumeDispatch();
    pause?.resolve();
  }

  async loseAcks(options: LoseAcksOptions): Promise<LostAcks> {
    const o = objectOption('options', options) as LoseAcksOptions;
    const delay = this.#delay(o, ['forMs', 'count', 'consumers', 'reconnect', 'reconnectDelayMs']);
    const forMs = o.forMs === undefined ? undefined : numberOption('forMs', o.forMs, 0, 0);
    const count = o.count === undefined ? undefined : integerOption('count', o.count, 1, 1);
    if (forMs === undefined && count === undefined) throw new ConfigurationError('options', 'an object with `forMs` or `count`', o);
    const match = o.consumers === undefined ? () => true : matcher('consumers', o.consumers);
    const reconnect = booleanOption('reconnect', o.reconnect) ?? true;
    this.#assertOpen();
    const core = this.#core;
    if (core.ackLoss !== null) {
      throw new ConfigurationError('loseAcks', 'called once the previous window is closed', undefined, 'Acknowledgements are already being lost: await the previous loseAcks() first');
    }
    const unaware = core.connected().filter((c) => match(c) && !c.acksMayBeLost);
    if (unaware.length > 0) {
      const names = [...new Set(unaware.map((c) => `"${c.name}"`))].join(', ');
      throw new ConfigurationError(
        'loseAcks',
        'consumers whose transport expects lost acknowledgements',
        names,
        `Consumer ${names} subscribed through a transport created before brokerFaults(broker), which does not declare ` +
          '`acknowledgementsCanBeLost`: its consumer would not remember what it completed. Create the kit before the transports.',
      );
    }
    const losers = new Set<ConsumerState>();
    let lost = 0;
    const closed = deferred();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const close = (): void => {
      if (core.ackLoss === lose) core.ackLoss = null;
      if (timer !== undefined) clearTimeout(timer);
      closed.resolve();
    };
    const lose = (consumer: ConsumerState): boolean => {
      if (!match(consumer)) return false;
      lost += 1;
      losers.add(consumer);
      if (count !== undefined && lost >= count) close();
      return true;
    };
    core.ackLoss = lose;
    if (forMs !== undefined) timer = setTimeout(close, forMs);
    await closed.promise;
    const names = [...new Set([...losers].map((c) => c.name))];
    if (reconnect && !core.closed) await this.#drop([...losers], 'acknowledgements lost', delay);
    return { lost, consumers: names };
  }

  /**
   * Drop `consumers`, load `reload` again if given (once they are all gone), then let them connect
   * again; resolves with their names once they are connected.
   */
  async #drop(consumers: readonly ConsumerState[], by: string, delayMs: number, reload?: readonly Cursor[]): Promise<readonly string[]> {
    const core = this.#core;
    const dropped: ConsumerState[] = [];
    const handles: Reconnecting[] = [];
    for (const consumer of consumers) {
      if (consumer.closed) continue;
      dropped.push(consumer);
      const handle = core.drop(consumer, by);
      if (handle !== undefined) handles.push(handle);
    }
    if (reload !== undefined) core.reload(reload);
    await Promise.all(handles.map((h) => h.dropped(delayMs)));
    return [...new Set(dropped.map((c) => c.name))];
  }

  #delay(options: ReconnectOptions | undefined, known: readonly string[]): number {
    const o = objectOption('options', options);
    knownOptions(o, known);
    return numberOption('reconnectDelayMs', o.reconnectDelayMs, this.#reconnectDelayMs, 0);
  }

  #assertOpen(): void {
    if (this.#core.closed) throw closedError();
  }
}

/**
 * The fault kit of a {@link MemoryBroker}: drop connections, unload topics, restart the broker,
 * pause dispatch and lose acknowledgements, to test handlers against the windows a real broker
 * opens. Create it before the broker's transports: transports created afterwards declare
 * `acknowledgementsCanBeLost`, so that their consumers remember what they completed
 * (`rememberCompleted`), as on Pulsar. Kits of one broker share its state (one pause, one
 * acknowledgement-loss window, one restart at a time).
 *
 * @example
 * ```ts
 * const broker = new MemoryBroker();
 * const faults = brokerFaults(broker);
 * const consumer = createExclusiveConsumer('events', keyFn, handler, { transport: broker.transport() });
 * await consumer.start();
 * await faults.loseAcks({ forMs: 200 }); // then the consumers reconnect: the messages come back
 * await faults.restart({ downMs: 500 });
 * ```
 * @throws ConfigurationError when `broker` is not a `MemoryBroker` or an option is out of range.
 * @throws TransportError when the broker is closed.
 */
export function brokerFaults(broker: MemoryBroker, options: BrokerFaultsOptions = {}): BrokerFaults {
  const core = brokerCore(broker);
  if (core === undefined) throw new ConfigurationError('broker', 'a MemoryBroker', broker);
  const o = objectOption('options', options);
  knownOptions(o, ['reconnectDelayMs']);
  const reconnectDelayMs = numberOption('reconnectDelayMs', o.reconnectDelayMs, 100, 0);
  if (core.closed) throw closedError();
  core.faultsEnabled = true;
  let state = states.get(core);
  if (state === undefined) {
    state = { pause: undefined, restarting: false };
    states.set(core, state);
  }
  return new MemoryBrokerFaults(core, state, reconnectDelayMs);
}
