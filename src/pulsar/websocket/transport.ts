import type { TransportError } from '../../errors/transport-error.js';
import type { SubscribeOptions, Transport } from '../../transports/types.js';
import type { PulsarTopicName } from '../topic.js';
import { PulsarTransportBase, type PulsarTransport } from '../transport-base.js';
import { WsSubscription, type WsConsumerHost } from './consumer.js';
import { resolveWebSocketOptions, type PulsarWebSocketOptions, type ResolvedWebSocketOptions } from './options.js';
import { WsProducer } from './producer.js';
import { closeSocket, loadWebSocket, openSocket, type WebSocketConstructor } from './socket.js';

/** A {@link PulsarTransport} over Pulsar's WebSocket API, named `'pulsar-ws'`. */
export interface PulsarWebSocketTransport extends PulsarTransport {}

/**
 * @internal The transport: consumers and producers over Pulsar's WebSocket API, one connection
 * each; dead letters go through one producer per dead-letter topic, after a subscription that
 * retains them was created.
 */
class WebSocketTransport extends PulsarTransportBase<ResolvedWebSocketOptions, WsProducer> implements PulsarWebSocketTransport, WsConsumerHost {
  override readonly name = 'pulsar-ws';

  constructor(options: ResolvedWebSocketOptions) {
    super(options, 'Pulsar WebSocket transport');
  }

  webSocket(): Promise<WebSocketConstructor> {
    const injected = this.options.webSocket;
    return injected === undefined ? loadWebSocket() : Promise.resolve(injected);
  }

  protected override newSubscription(options: SubscribeOptions, topic: PulsarTopicName, deadLetterTopic: string): WsSubscription {
    return new WsSubscription(this, options, topic, deadLetterTopic);
  }

  /** The broker may dead-letter at any time once subscribed: make sure the letters are retained. */
  protected override retainsDeadLettersFirst(options: SubscribeOptions): boolean {
    return options.maxRedeliverCount !== undefined;
  }

  protected override async openProducer(topic: string, resolved: PulsarTopicName): Promise<WsProducer> {
    const producer = new WsProducer(topic, resolved, this.options, () => this.webSocket(), (p) => this.producers.delete(p));
    this.producers.add(producer);
    try {
      await producer.start();
    } catch (error) {
      this.producers.delete(producer);
      throw error;
    }
    return producer;
  }

  protected override openDeadLetterProducer(topic: PulsarTopicName): Promise<WsProducer> {
    return this.createProducer(topic.full);
  }

  /**
   * Create a durable subscription at the earliest position by connecting a consumer that asks for
   * no message (pull mode, no permit) and leaving. The WebSocket API needs the same permission as
   * consuming, where the admin API may need more; an existing subscription of another type (whose
   * consumers refuse a Shared newcomer) also counts as created.
   */
  protected override async createRetainingSubscription(topic: PulsarTopicName, subscription: string): Promise<void> {
    const WebSocket = await this.webSocket();
    const params = new URLSearchParams({
      subscriptionType: 'Shared',
      receiverQueueSize: '1',
      pullMode: 'true',
      subscriptionInitialPosition: 'Earliest',
    });
    const url = `${this.options.wsBase}/ws/v2/consumer/${topic.path}/${encodeURIComponent(subscription)}?${params}`;
    try {
      const socket = await openSocket(
        WebSocket,
        url,
        { headers: this.options.headers, handshakeTimeout: this.options.connectTimeoutMs, perMessageDeflate: false },
        { message: () => undefined, close: () => undefined, pong: () => undefined },
        `subscription "${subscription}" of dead-letter topic ${topic.full}`,
      );
      await closeSocket(socket);
    } catch (error) {
      const context = (error as TransportError).context ?? {};
      const body = typeof context.body === 'string' ? context.body : '';
      if (context.status === 409 || /different type|busy/i.test(body)) return;
      throw error;
    }
  }
}

/**
 * A {@link Transport} over Apache Pulsar's WebSocket API, in pure JavaScript (the `ws` package, an
 * optional peer dependency loaded on first use): for services that cannot install the native
 * `pulsar-client` addon.
 *
 * - Consumers (Key_Shared, Failover, Shared) run in pull mode: the broker sends a message only
 *   against a permit, so at most `receiverQueueSize` deliveries are unsettled; permits are topped
 *   up as the engine settles them, and `pause()` stops granting them.
 * - A lost connection is reported (`onError`), its deliveries are declared lost
 *   (`onDeliveriesLost`: the broker hands them to other consumers), and it is replaced with jittered
 *   exponential backoff. Pings keep idle sessions open and detect dead ones.
 * - Producers send one message per frame and correlate the broker's replies.
 * - Topic names: a short name lives in `tenant`/`namespace` (`public/default`); full
 *   `persistent://…` names are accepted.
 *
 * @example
 * ```ts
 * import { createExclusiveConsumer } from 'exclusive-consumer';
 * import { pulsarWebSocketTransport } from 'exclusive-consumer/pulsar';
 *
 * const transport = pulsarWebSocketTransport({ url: 'http://127.0.0.1:8080' });
 * const consumer = createExclusiveConsumer('shopper-events', (e) => e.shopperId, handle, { transport });
 * await consumer.start();
 * ```
 * @throws ConfigurationError when an option is invalid (at once, not on first use).
 */
export function pulsarWebSocketTransport(options: PulsarWebSocketOptions): PulsarWebSocketTransport {
  return new WebSocketTransport(resolveWebSocketOptions(options));
}
