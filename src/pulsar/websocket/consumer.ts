import { TransportError } from '../../errors/transport-error.js';
import type { SubscribeOptions, SubscriptionType } from '../../transports/types.js';
import { PulsarDelivery, PulsarSubscription, type ConsumerHost } from '../consumer-base.js';
import { QuietPartitions } from '../quiet-partitions.js';
import { partitionTopic, type PulsarTopicName } from '../topic.js';
import { partitionOf } from './message-id.js';
import { SubscriptionTypeConflictError } from '../../errors/subscription-type-conflict-error.js';
import { backoffDelay } from '../../internal/backoff.js';
import { holdStallWatch, stalled } from '../../internal/stall-watch.js';
import type { ResolvedWebSocketOptions } from './options.js';
import { DEFAULT_NACK_DELAY_MS } from '../transport-options.js';
import { FrameWriter, closeSocket, frameText, openSocket, type WebSocketConstructor, type WebSocketLike } from './socket.js';

/** The WebSocket API's names of the subscription types. */
const SUBSCRIPTION_TYPE: Readonly<Record<SubscriptionType, string>> = {
  'key-shared': 'Key_Shared',
  failover: 'Failover',
  shared: 'Shared',
};

/**
 * Acks, nacks and permits wait up to this long to share a socket write. Messages often arrive one
 * per socket read, so one turn's frames are few; a millisecond gathers a dozen at 10k messages/s,
 * and costs nothing the broker would notice (its consumer behind the session groups acks for
 * 100 ms anyway).
 */
const ACK_HOLD_MS = 1;

/** The Java consumer behind a WebSocket session takes at most this receiver queue. */
const MAX_BROKER_QUEUE = 1000;
/** How long that proof (a pong) may take before the connection is given up for dead. */
const PROOF_TIMEOUT_MS = 5000;

/** The frame that negatively acknowledges `messageId` (in Failover: its partition's redelivery request). */
function negativeAckFrame(messageId: string): string {
  return `{"type":"negativeAcknowledge","messageId":${JSON.stringify(messageId)}}`;
}

/** @internal What a WebSocket subscription needs from its transport beyond what every Pulsar one does. */
export interface WsConsumerHost extends ConsumerHost<ResolvedWebSocketOptions> {
  /** The WebSocket class to connect with: the one passed in, or `ws`'s, imported on first use. */
  webSocket(): Promise<WebSocketConstructor>;
}

/** A consumer message as the WebSocket API sends it. */
interface ConsumerFrame {
  readonly messageId?: unknown;
  readonly payload?: unknown;
  readonly properties?: unknown;
  readonly publishTime?: unknown;
  readonly redeliveryCount?: unknown;
  readonly key?: unknown;
}

/**
 * @internal One WebSocket session of a subscription. Deliveries keep a reference to the session
 * that carried them: once it is gone, the broker has handed their messages to other consumers and
 * acknowledging them there is impossible.
 */
export class Session {
  /** Open and not yet closed: its deliveries may still be settled. */
  alive = true;
  /** Permits sent to the broker and not yet used by a delivery. */
  granted = 0;
  /** Deliveries received on this session and not settled (handed over or held while paused). */
  unsettled = 0;
  /** Deliveries handed to `onMessages`. */
  handedOver = 0;
  /** A ping was sent and neither a pong nor a message has come since. */
  awaitingPong = false;
  pingTimer: NodeJS.Timeout | undefined = undefined;
  /**
   * Deliveries that arrived after the process stood still, held until a pong proves that this
   * connection outlived the stall; `undefined` while none is being proven.
   */
  unproven: WsDelivery[] | undefined = undefined;
  proofTimer: NodeJS.Timeout | undefined = undefined;
  readonly #writer: FrameWriter;

  constructor(readonly socket: WebSocketLike) {
    this.#writer = new FrameWriter(socket, ACK_HOLD_MS);
  }

  /** Send a frame; a socket that is closing drops it (the session's close handler runs next). */
  send(frame: string): void {
    this.#writer.send(frame);
  }
}

/**
 * @internal A message delivered over the WebSocket API. Metadata are own properties; every
 * redelivery is a new object. Settled once, by `ack`, `nack` or a successful `deadLetter`.
 */
export class WsDelivery extends PulsarDelivery<WsSubscription> {
  override readonly id: string;
  override readonly data: Uint8Array;
  override readonly partitionKey: string | undefined;
  override readonly properties: Readonly<Record<string, string>>;
  override readonly redeliveryCount: number;
  override readonly publishTime: number;
  override readonly topic: string;
  readonly #session: Session;
  /** Partition slot (0 for a non-partitioned topic). */
  readonly #slot: number;

  constructor(subscription: WsSubscription, session: Session, id: string, frame: ConsumerFrame, topic: string, slot: number) {
    super(subscription);
    this.id = id;
    this.data = Buffer.from(frame.payload as string, 'base64');
    this.partitionKey = typeof frame.key === 'string' ? frame.key : undefined;
    this.properties =
      typeof frame.properties === 'object' && frame.properties !== null ? (frame.properties as Record<string, string>) : {};
    this.redeliveryCount = typeof frame.redeliveryCount === 'number' ? frame.redeliveryCount : 0;
    const published = typeof frame.publishTime === 'string' ? Date.parse(frame.publishTime) : Number.NaN;
    this.publishTime = Number.isFinite(published) ? published : 0;
    this.topic = topic;
    this.#session = session;
    this.#slot = slot;
  }

  protected override get alive(): boolean {
    return this.#session.alive;
  }

  /** Fire and forget: the WebSocket API does not confirm acks. */
  protected override acknowledged(): void {
    const session = this.#session;
    session.send(`{"messageId":${JSON.stringify(this.id)}}`);
    this.subscription.settled(session, this.#slot);
  }

  protected override negativelyAcknowledged(): void {
    const session = this.#session;
    session.send(negativeAckFrame(this.id));
    this.subscription.settled(session, this.#slot);
  }
}

/**
 * @internal A consumer over Pulsar's WebSocket API in pull mode: the broker sends a message only
 * against a permit, so `receiverQueueSize` bounds what is delivered and unsettled. Permits are
 * topped up as deliveries are settled; a lost connection is reported, replaced with backoff, and
 * its deliveries declared lost.
 */
export class WsSubscription extends PulsarSubscription<WsConsumerHost> {
  readonly #url: string;
  /**
   * Permits go out in batches of at least this many (unless the broker is about to run out of
   * them), so that settling a message does not cost a frame of its own.
   */
  readonly #permitBatch: number;
  #topUpQueued = false;
  #session: Session | undefined;
  /** A socket being opened (by a reconnection), so that `close()` can abort it. */
  #opening: WebSocketLike | undefined;
  /** Deliveries received while paused, handed over on `resume()`. */
  #held: WsDelivery[] = [];
  /** Deliveries of the current turn, handed over together in a microtask. */
  #batch: WsDelivery[] = [];
  #flushQueued = false;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #releaseStallWatch: () => void = () => undefined;
  /** The topic of each partition seen, so that a delivery does not build the string again. */
  readonly #partitionTopics: string[] = [];
  /** Failover with `failoverRedeliverAfterMs` > 0: partitions to ask redelivery for once quiet. */
  readonly #quiet: QuietPartitions<number, string> | undefined;
  #quietTimer: NodeJS.Timeout | undefined;

  constructor(host: WsConsumerHost, options: SubscribeOptions, topic: PulsarTopicName, deadLetterTopic: string) {
    super(host, options, topic, deadLetterTopic);
    this.#permitBatch = Math.max(1, Math.ceil(options.receiverQueueSize / 4));
    if (options.type === 'failover' && host.options.failoverRedeliverAfterMs > 0) this.#quiet = new QuietPartitions<number, string>();
    const params = new URLSearchParams({
      subscriptionType: SUBSCRIPTION_TYPE[options.type],
      // The Java consumer behind the session prefetches this many from the broker: keep it no
      // larger than what this consumer may hold, so other consumers of a Shared subscription get
      // their share of the backlog.
      receiverQueueSize: String(Math.min(options.receiverQueueSize, MAX_BROKER_QUEUE)),
      consumerName: options.consumerName,
      pullMode: 'true',
      subscriptionInitialPosition: options.initialPosition === 'earliest' ? 'Earliest' : 'Latest',
    });
    // Pulsar's default (60 s) would stall a key whose message was given back for a minute.
    params.set('negativeAckRedeliveryDelay', String(Math.round(options.nackRedeliveryDelayMs ?? DEFAULT_NACK_DELAY_MS)));
    if (options.maxRedeliverCount !== undefined) {
      params.set('maxRedeliverCount', String(options.maxRedeliverCount));
      params.set('deadLetterTopic', deadLetterTopic);
    }
    this.#url = `${host.options.wsBase}/ws/v2/consumer/${topic.path}/${encodeURIComponent(options.subscription)}?${params}`;
  }

  /** Open the first session. Rejects (and leaves nothing running) when the broker refuses. */
  override async start(): Promise<void> {
    const WebSocket = await this.host.webSocket();
    this.#releaseStallWatch = holdStallWatch();
    try {
      await this.#open(WebSocket);
    } catch (error) {
      this.#releaseStallWatch();
      throw error;
    }
  }

  // ------------------------------------------------------------------ Subscription

  /** Whether a session is open: false from a dropped connection until its replacement opened. */
  get connected(): boolean {
    return this.#session !== undefined;
  }

  protected override resumed(): void {
    const session = this.#session;
    if (session === undefined) return;
    if (this.#held.length > 0) {
      const held = this.#held;
      this.#held = [];
      this.#handOver(session, held);
    }
    this.#topUp(session);
  }

  // ------------------------------------------------------------------ for deliveries

  /** A delivery of `session` was settled: room for one more, granted at the end of this turn. */
  settled(session: Session, slot: number): void {
    session.unsettled -= 1;
    if (session !== this.#session) return;
    this.#quiet?.settled(slot);
    if (this.#topUpQueued) return;
    this.#topUpQueued = true;
    // Settlements of one turn (a batch of handlers finishing together) share one permit frame.
    setImmediate(() => {
      this.#topUpQueued = false;
      const current = this.#session;
      if (current !== undefined) this.#topUp(current);
    });
  }

  // ------------------------------------------------------------------ sessions

  async #open(WebSocket: WebSocketConstructor): Promise<void> {
    let session: Session | undefined;
    const what = `consumer "${this.options.consumerName}" of ${this.topic.full}`;
    const socket = await openSocket(
      WebSocket,
      this.#url,
      {
        headers: this.host.options.headers,
        handshakeTimeout: this.host.options.connectTimeoutMs,
        perMessageDeflate: false,
      },
      {
        message: (data) => {
          if (session !== undefined) this.#receive(session, data);
        },
        close: (code, reason) => {
          if (session !== undefined) this.#lost(session, code, reason);
        },
        pong: () => {
          if (session === undefined) return;
          session.awaitingPong = false;
          this.#proven(session);
        },
      },
      what,
      (created) => {
        this.#opening = created;
      },
    )
      .catch((error: unknown) => {
        throw this.#refusal(error);
      })
      .finally(() => {
        this.#opening = undefined;
      });
    if (this.isClosed) {
      await closeSocket(socket);
      return;
    }
    session = new Session(socket);
    this.#session = session;
    this.#attempt = 0;
    this.#startPings(session);
    this.#watchQuietPartitions();
    this.#topUp(session);
  }

  /** The broker's refusal as the library's error: a subscription held with another type is its own. */
  #refusal(error: unknown): unknown {
    const body = (error as { context?: { status?: unknown; body?: unknown } }).context;
    const text = typeof body?.body === 'string' ? body.body.replace(/&apos;/g, "'").replace(/&quot;/g, '"') : '';
    const match = /Subscription is of different type[^"<]*/.exec(text);
    if (body?.status !== 409 || match === null) return error;
    return new SubscriptionTypeConflictError(this.topic.full, this.options.subscription, SUBSCRIPTION_TYPE[this.options.type], match[0].trim(), error);
  }

  /** Failover: ask for redelivery of each partition gone quiet, a few times (see {@link QuietPartitions}). */
  #watchQuietPartitions(): void {
    const quiet = this.#quiet;
    if (quiet === undefined) return;
    quiet.reset();
    if (this.#quietTimer !== undefined) return;
    // Receiving: the proxy has permits to push whatever it holds (not paused, none used up).
    const receiving = (): boolean => !this.isPaused && this.#session !== undefined && this.#session.granted > 0;
    this.#quietTimer = quiet.watch(this.host.options.failoverRedeliverAfterMs, receiving, (ids) => {
      const session = this.#session;
      if (session === undefined || !session.alive) return;
      for (const id of ids) session.send(negativeAckFrame(id));
    });
  }

  #startPings(session: Session): void {
    const every = this.host.options.pingIntervalMs;
    if (every === 0) return;
    session.pingTimer = setInterval(() => {
      if (session.awaitingPong) {
        // No pong and no message for a whole interval: the connection is dead without knowing it.
        this.report(new TransportError(`No pong from the broker in ${every} ms; reconnecting`, { context: this.context() }));
        session.socket.terminate();
        return;
      }
      session.awaitingPong = true;
      try {
        session.socket.ping();
      } catch {
        // The close handler deals with a socket that cannot ping.
      }
    }, every);
    session.pingTimer.unref?.();
  }

  /** Send permits up to the limit, in batches, unless paused. */
  #topUp(session: Session): void {
    if (this.isPaused || this.isClosed || !session.alive) return;
    const room = this.limit - session.unsettled - session.granted;
    if (room <= 0) return;
    // A small grant waits for more room unless the broker holds few permits: then every message
    // the engine lets go is wanted back at once.
    if (room < this.#permitBatch && session.granted >= this.#permitBatch) return;
    session.granted += room;
    session.send(`{"type":"permit","permitMessages":${room}}`);
  }

  #receive(session: Session, data: unknown): void {
    if (!session.alive) return;
    session.awaitingPong = false;
    let frame: ConsumerFrame;
    try {
      frame = JSON.parse(frameText(data)) as ConsumerFrame;
    } catch (error) {
      this.report(new TransportError('Undecodable frame from the Pulsar WebSocket API', { cause: error, context: this.context() }));
      return;
    }
    const id = frame.messageId;
    if (typeof id !== 'string' || typeof frame.payload !== 'string') return; // not a message (e.g. a command reply)
    session.granted -= 1;
    session.unsettled += 1;
    const partition = partitionOf(id);
    const slot = partition < 0 ? 0 : partition;
    this.#quiet?.received(slot, id);
    const delivery = new WsDelivery(this, session, id, frame, this.#topicOf(partition), slot);
    if (this.isPaused) {
      this.#held.push(delivery);
      return;
    }
    this.#batch.push(delivery);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      // Frames that arrived together (one socket read) go to the engine as one batch.
      queueMicrotask(() => this.#flush(session));
    }
  }

  #flush(session: Session): void {
    this.#flushQueued = false;
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    if (!session.alive || session !== this.#session) return;
    if (session.unproven !== undefined || stalled()) {
      this.#prove(session, batch);
      return;
    }
    if (this.isPaused) {
      for (const d of batch) this.#held.push(d);
      return;
    }
    this.#handOver(session, batch);
  }

  /**
   * The process stood still (paused, frozen, blocked) and frames queued up meanwhile: the broker
   * may have dropped this connection during the stall and handed their messages to another
   * consumer, and the close is read only after them. Hold them, and everything after, until a
   * pong — which the broker can only send after the frames before it — proves the connection
   * outlived the stall; if the close comes first, they are dropped with it.
   */
  #prove(session: Session, batch: readonly WsDelivery[]): void {
    if (session.unproven !== undefined) {
      session.unproven.push(...batch);
      return;
    }
    session.unproven = [...batch];
    try {
      session.socket.ping();
    } catch {
      // The close handler deals with a socket that cannot ping.
    }
    session.proofTimer = setTimeout(() => {
      if (session.unproven === undefined || !session.alive) return;
      this.report(new TransportError(`No pong from the broker within ${PROOF_TIMEOUT_MS} ms after a stall; reconnecting`, { context: this.context() }));
      session.socket.terminate();
    }, PROOF_TIMEOUT_MS);
  }

  #proven(session: Session): void {
    const held = session.unproven;
    if (held === undefined) return;
    session.unproven = undefined;
    if (session.proofTimer !== undefined) clearTimeout(session.proofTimer);
    if (!session.alive || session !== this.#session || held.length === 0) return;
    if (this.isPaused) this.#held.push(...held);
    else this.#handOver(session, held);
  }

  #handOver(session: Session, batch: WsDelivery[]): void {
    session.handedOver += batch.length;
    this.deliver(batch);
  }

  #topicOf(partition: number): string {
    if (partition < 0) return this.topic.full;
    return (this.#partitionTopics[partition] ??= partitionTopic(this.topic.full, partition));
  }

  /** The session's connection closed. */
  #lost(session: Session, code: number, reason: string): void {
    if (!session.alive) return;
    session.alive = false;
    if (session.pingTimer !== undefined) clearInterval(session.pingTimer);
    if (session.proofTimer !== undefined) clearTimeout(session.proofTimer);
    session.unproven = undefined;
    if (session !== this.#session) return;
    this.#session = undefined;
    this.#held = [];
    this.#batch = [];
    if (this.isClosed) return;
    const why = reason.length > 0 ? `: ${reason}` : '';
    this.report(
      new TransportError(`Consumer "${this.options.consumerName}" lost its connection to Pulsar (code ${code}${why}); reconnecting`, {
        context: { ...this.context(), code },
      }),
    );
    if (session.handedOver > 0) this.deliveriesLost();
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.isClosed || this.#reconnectTimer !== undefined) return;
    const o = this.host.options;
    const delay = backoffDelay(this.#attempt + 1, o.reconnect);
    this.#attempt += 1;
    // Not unref'd: a consumer waiting to reconnect is what keeps a consumer process alive.
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.isClosed) return;
      void this.host
        .webSocket()
        .then((WebSocket) => this.#open(WebSocket))
        .catch((error: unknown) => {
          if (this.isClosed) return;
          this.report(error);
          this.#scheduleReconnect();
        });
    }, delay);
  }

  protected override async disconnect(): Promise<void> {
    this.#releaseStallWatch();
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    if (this.#quietTimer !== undefined) clearInterval(this.#quietTimer);
    this.#quietTimer = undefined;
    this.#opening?.terminate();
    const session = this.#session;
    this.#session = undefined;
    this.#held = [];
    this.#batch = [];
    if (session !== undefined) {
      // Acks already written go out before the close frame; deliveries of the session are void from now.
      session.alive = false;
      if (session.pingTimer !== undefined) clearInterval(session.pingTimer);
      await closeSocket(session.socket);
    }
    this.host.closed(this);
  }
}
