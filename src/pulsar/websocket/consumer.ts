import { TransportError } from '../../errors/transport-error.js';
import { deadLetterMessage } from '../../transports/dead-letter.js';
import type {
  DeadLetterReason,
  Delivery,
  OutgoingMessage,
  SubscribeOptions,
  Subscription,
  SubscriptionType,
} from '../../transports/types.js';
import { partitionTopic, type PulsarTopicName } from '../topic.js';
import { partitionOf } from './message-id.js';
import { backoffDelay, type ResolvedWebSocketOptions } from './options.js';
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

/** @internal What a subscription needs from its transport. */
export interface ConsumerHost {
  readonly options: ResolvedWebSocketOptions;
  webSocket(): Promise<WebSocketConstructor>;
  /** Publish to a dead-letter topic (creating its retaining subscription first); resolves once stored. */
  deadLetter(topic: string, subscription: string, message: OutgoingMessage): Promise<void>;
  /** The subscription closed; forget it. */
  closed(subscription: WsSubscription): void;
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
  readonly #writer: FrameWriter;

  constructor(readonly socket: WebSocketLike) {
    this.#writer = new FrameWriter(socket, ACK_HOLD_MS);
  }

  /** Send a frame; a socket that is closing drops it (the session's close handler runs next). */
  send(frame: string): void {
    this.#writer.send(frame);
  }
}

const resolved: Promise<void> = Promise.resolve();

/**
 * @internal A message delivered over the WebSocket API. Metadata are own properties; every
 * redelivery is a new object. Settled once, by `ack`, `nack` or a successful `deadLetter`.
 */
export class WsDelivery implements Delivery {
  readonly id: string;
  readonly data: Uint8Array;
  readonly partitionKey: string | undefined;
  readonly properties: Readonly<Record<string, string>>;
  readonly redeliveryCount: number;
  readonly publishTime: number;
  readonly topic: string;
  readonly #subscription: WsSubscription;
  readonly #session: Session;
  #settled = false;
  #deadLettering: Promise<void> | undefined;

  constructor(subscription: WsSubscription, session: Session, id: string, frame: ConsumerFrame, topic: string) {
    this.id = id;
    this.data = Buffer.from(frame.payload as string, 'base64');
    this.partitionKey = typeof frame.key === 'string' ? frame.key : undefined;
    this.properties =
      typeof frame.properties === 'object' && frame.properties !== null ? (frame.properties as Record<string, string>) : {};
    this.redeliveryCount = typeof frame.redeliveryCount === 'number' ? frame.redeliveryCount : 0;
    const published = typeof frame.publishTime === 'string' ? Date.parse(frame.publishTime) : Number.NaN;
    this.publishTime = Number.isFinite(published) ? published : 0;
    this.topic = topic;
    this.#subscription = subscription;
    this.#session = session;
  }

  /**
   * Acknowledge (fire and forget: the WebSocket API does not confirm acks). Rejects with a
   * non-retriable `TransportError` once the session that delivered it is gone.
   */
  ack(): void | Promise<void> {
    const session = this.#session;
    if (!session.alive) return Promise.reject(this.#subscription.goneError(this.id));
    if (this.#settled) return;
    this.#settled = true;
    session.send(`{"messageId":${JSON.stringify(this.id)}}`);
    this.#subscription.settled(session);
  }

  /** Redeliver after the subscription's nack delay. A no-op once settled or once its session is gone. */
  nack(): void {
    const session = this.#session;
    if (!session.alive || this.#settled) return;
    this.#settled = true;
    session.send(`{"type":"negativeAcknowledge","messageId":${JSON.stringify(this.id)}}`);
    this.#subscription.settled(session);
  }

  /** Publish to the dead-letter topic and wait for the broker's confirmation, then acknowledge. */
  deadLetter(reason: DeadLetterReason): Promise<void> {
    if (!this.#session.alive) return Promise.reject(this.#subscription.goneError(this.id));
    if (this.#settled) return resolved;
    this.#deadLettering ??= this.#publishDeadLetter(reason).finally(() => {
      this.#deadLettering = undefined;
    });
    return this.#deadLettering;
  }

  async #publishDeadLetter(reason: DeadLetterReason): Promise<void> {
    await this.#subscription.publishDeadLetter(deadLetterMessage(this, reason));
    // Published: from here on an ack is due. If the session died meanwhile the message comes back
    // to the subscription and may be dead-lettered twice (at least once, never lost).
    const result = this.ack();
    if (result !== undefined) await result;
  }
}

/**
 * @internal A consumer over Pulsar's WebSocket API in pull mode: the broker sends a message only
 * against a permit, so `receiverQueueSize` bounds what is delivered and unsettled. Permits are
 * topped up as deliveries are settled; a lost connection is reported, replaced with backoff, and
 * its deliveries declared lost.
 */
export class WsSubscription implements Subscription {
  readonly #host: ConsumerHost;
  readonly #options: SubscribeOptions;
  readonly #topic: PulsarTopicName;
  readonly #deadLetterTopic: string;
  readonly #url: string;
  readonly #limit: number;
  /**
   * Permits go out in batches of at least this many (unless the broker is about to run out of
   * them), so that settling a message does not cost a frame of its own.
   */
  readonly #permitBatch: number;
  #topUpQueued = false;
  #session: Session | undefined;
  /** A socket being opened (by a reconnection), so that `close()` can abort it. */
  #opening: WebSocketLike | undefined;
  #paused = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Deliveries received while paused, handed over on `resume()`. */
  #held: WsDelivery[] = [];
  /** Deliveries of the current turn, handed over together in a microtask. */
  #batch: WsDelivery[] = [];
  #flushQueued = false;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  /** The topic of each partition seen, so that a delivery does not build the string again. */
  readonly #partitionTopics: string[] = [];

  constructor(host: ConsumerHost, options: SubscribeOptions, topic: PulsarTopicName, deadLetterTopic: string) {
    this.#host = host;
    this.#options = options;
    this.#topic = topic;
    this.#deadLetterTopic = deadLetterTopic;
    this.#limit = options.receiverQueueSize;
    this.#permitBatch = Math.max(1, Math.ceil(options.receiverQueueSize / 4));
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
    if (options.nackRedeliveryDelayMs !== undefined) {
      params.set('negativeAckRedeliveryDelay', String(Math.round(options.nackRedeliveryDelayMs)));
    }
    if (options.maxRedeliverCount !== undefined) {
      params.set('maxRedeliverCount', String(options.maxRedeliverCount));
      params.set('deadLetterTopic', deadLetterTopic);
    }
    this.#url = `${host.options.wsBase}/ws/v2/consumer/${topic.path}/${encodeURIComponent(options.subscription)}?${params}`;
  }

  /** Open the first session. Rejects (and leaves nothing running) when the broker refuses. */
  async start(): Promise<void> {
    const WebSocket = await this.#host.webSocket();
    await this.#open(WebSocket);
  }

  // ------------------------------------------------------------------ Subscription

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    const session = this.#session;
    if (session === undefined) return;
    if (this.#held.length > 0) {
      const held = this.#held;
      this.#held = [];
      this.#handOver(session, held);
    }
    this.#topUp(session);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  // ------------------------------------------------------------------ for deliveries

  /** A delivery of `session` was settled: room for one more, granted at the end of this turn. */
  settled(session: Session): void {
    session.unsettled -= 1;
    if (session !== this.#session || this.#topUpQueued) return;
    this.#topUpQueued = true;
    // Settlements of one turn (a batch of handlers finishing together) share one permit frame.
    setImmediate(() => {
      this.#topUpQueued = false;
      const current = this.#session;
      if (current !== undefined) this.#topUp(current);
    });
  }

  goneError(messageId: string): TransportError {
    const o = this.#options;
    return new TransportError(
      this.#closed
        ? `Consumer "${o.consumerName}" of ${this.#topic.full} is closed`
        : `The connection that delivered message ${messageId} to consumer "${o.consumerName}" is gone; the broker redelivers it`,
      {
        retriable: false,
        context: { topic: this.#topic.full, subscription: o.subscription, consumerName: o.consumerName, messageId },
      },
    );
  }

  publishDeadLetter(message: OutgoingMessage): Promise<void> {
    return this.#host.deadLetter(this.#deadLetterTopic, this.#options.subscription, message);
  }

  // ------------------------------------------------------------------ sessions

  async #open(WebSocket: WebSocketConstructor): Promise<void> {
    let session: Session | undefined;
    const what = `consumer "${this.#options.consumerName}" of ${this.#topic.full}`;
    const socket = await openSocket(
      WebSocket,
      this.#url,
      {
        headers: this.#host.options.headers,
        handshakeTimeout: this.#host.options.connectTimeoutMs,
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
          if (session !== undefined) session.awaitingPong = false;
        },
      },
      what,
      (created) => {
        this.#opening = created;
      },
    ).finally(() => {
      this.#opening = undefined;
    });
    if (this.#closed) {
      await closeSocket(socket);
      return;
    }
    session = new Session(socket);
    this.#session = session;
    this.#attempt = 0;
    this.#startPings(session);
    this.#topUp(session);
  }

  #startPings(session: Session): void {
    const every = this.#host.options.pingIntervalMs;
    if (every === 0) return;
    session.pingTimer = setInterval(() => {
      if (session.awaitingPong) {
        // No pong and no message for a whole interval: the connection is dead without knowing it.
        this.#report(new TransportError(`No pong from the broker in ${every} ms; reconnecting`, { context: this.#context() }));
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
    if (this.#paused || this.#closed || !session.alive) return;
    const room = this.#limit - session.unsettled - session.granted;
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
      this.#report(new TransportError('Undecodable frame from the Pulsar WebSocket API', { cause: error, context: this.#context() }));
      return;
    }
    const id = frame.messageId;
    if (typeof id !== 'string' || typeof frame.payload !== 'string') return; // not a message (e.g. a command reply)
    session.granted -= 1;
    session.unsettled += 1;
    const delivery = new WsDelivery(this, session, id, frame, this.#topicOf(id));
    if (this.#paused) {
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
    if (this.#paused) {
      for (const d of batch) this.#held.push(d);
      return;
    }
    this.#handOver(session, batch);
  }

  #handOver(session: Session, batch: WsDelivery[]): void {
    session.handedOver += batch.length;
    try {
      this.#options.onMessages(batch);
    } catch (error) {
      this.#report(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #topicOf(messageId: string): string {
    const partition = partitionOf(messageId);
    if (partition < 0) return this.#topic.full;
    return (this.#partitionTopics[partition] ??= partitionTopic(this.#topic.full, partition));
  }

  /** The session's connection closed. */
  #lost(session: Session, code: number, reason: string): void {
    if (!session.alive) return;
    session.alive = false;
    if (session.pingTimer !== undefined) clearInterval(session.pingTimer);
    if (session !== this.#session) return;
    this.#session = undefined;
    this.#held = [];
    this.#batch = [];
    if (this.#closed) return;
    const why = reason.length > 0 ? `: ${reason}` : '';
    this.#report(
      new TransportError(`Consumer "${this.#options.consumerName}" lost its connection to Pulsar (code ${code}${why}); reconnecting`, {
        context: { ...this.#context(), code },
      }),
    );
    if (session.handedOver > 0) {
      try {
        this.#options.onDeliveriesLost?.();
      } catch (error) {
        this.#report(error instanceof Error ? error : new Error(String(error)));
      }
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer !== undefined) return;
    const o = this.#host.options;
    const delay = backoffDelay(this.#attempt, o.initialDelayMs, o.maxDelayMs);
    this.#attempt += 1;
    // Not unref'd: a consumer waiting to reconnect is what keeps a consumer process alive.
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#closed) return;
      void this.#host
        .webSocket()
        .then((WebSocket) => this.#open(WebSocket))
        .catch((error: unknown) => {
          if (this.#closed) return;
          this.#report(error instanceof Error ? error : new Error(String(error)));
          this.#scheduleReconnect();
        });
    }, delay);
  }

  async #close(): Promise<void> {
    this.#closed = true;
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
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
    this.#host.closed(this);
  }

  #context(): Record<string, unknown> {
    const o = this.#options;
    return { topic: this.#topic.full, subscription: o.subscription, consumerName: o.consumerName };
  }

  #report(error: Error): void {
    try {
      this.#options.onError?.(error);
    } catch {
      // An informational callback that throws has nowhere better to report to.
    }
  }
}
