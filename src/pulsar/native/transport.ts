import { TransportError } from '../../errors/transport-error.js';
import type { SubscribeOptions, Transport } from '../../transports/types.js';
import type { PulsarTopicName } from '../topic.js';
import { PulsarTransportBase, type PulsarTransport } from '../transport-base.js';
import type { PulsarProducerConfig, PulsarProducerLike } from './client.js';
import { NativeSubscription, reasonOf } from './consumer.js';
import { resolveClientOptions, type PulsarClientTransportOptions, type ResolvedClientOptions } from './options.js';
import { NativeProducer } from './producer.js';

/**
 * A {@link PulsarTransport} over a `pulsar-client` `Client`, named `'pulsar-client'`. Its
 * `close()` leaves the client open: the client belongs to the caller, who closes it after the
 * transport.
 */
export interface PulsarClientTransport extends PulsarTransport {}

/**
 * @internal The transport: one pulsar-client consumer per subscription, one producer per
 * `createProducer`, and one shared producer per dead-letter topic.
 */
class ClientTransport extends PulsarTransportBase<ResolvedClientOptions, NativeProducer> implements PulsarClientTransport {
  override readonly name = 'pulsar-client';

  constructor(options: ResolvedClientOptions) {
    super(options, 'pulsar-client transport');
  }

  protected override newSubscription(options: SubscribeOptions, topic: PulsarTopicName, deadLetterTopic: string): NativeSubscription {
    return new NativeSubscription(this, options, topic, deadLetterTopic);
  }

  /** The client's `deadLetterPolicy` creates it (`initialSubscriptionName`) before its first dead letter. */
  protected override retainsDeadLettersFirst(): boolean {
    return false;
  }

  protected override async openProducer(topic: string, resolved: PulsarTopicName): Promise<NativeProducer> {
    const config: PulsarProducerConfig = {
      ...this.options.producer,
      topic: resolved.full,
      // A default batch carries several keys and Key_Shared routes it by one of them.
      batchingType: 'KeyBasedBatching',
    };
    let raw: PulsarProducerLike;
    try {
      raw = await this.options.client.createProducer(config);
    } catch (error) {
      throw new TransportError(`Pulsar refused a producer on ${resolved.full}: ${reasonOf(error)}`, {
        cause: error,
        context: { topic: resolved.full },
      });
    }
    const producer = new NativeProducer(topic, resolved.full, raw, (p) => this.producers.delete(p), this.options.producer.maxPendingMessages);
    this.producers.add(producer);
    if (this.isClosed) {
      await producer.close().catch(() => undefined);
      throw this.closedError();
    }
    return producer;
  }

  protected override openDeadLetterProducer(topic: PulsarTopicName): Promise<NativeProducer> {
    return this.openProducer(topic.full, topic);
  }

  /**
   * Create a durable subscription at the earliest position by subscribing and leaving. The
   * consumer may prefetch a message; closing it hands that back. An existing subscription of
   * another type (whose consumers refuse a Shared newcomer: `ConsumerBusy`) also counts as created.
   */
  protected override async createRetainingSubscription(topic: PulsarTopicName, subscription: string): Promise<void> {
    try {
      const consumer = await this.options.client.subscribe({
        topic: topic.full,
        subscription,
        subscriptionType: 'Shared',
        subscriptionInitialPosition: 'Earliest',
        consumerName: `${subscription}-dead-letter-retainer`,
        receiverQueueSize: 1,
      });
      await consumer.close();
    } catch (error) {
      if (/ConsumerBusy|different type/i.test(reasonOf(error))) return;
      throw new TransportError(`Could not create subscription "${subscription}" on dead-letter topic ${topic.full}: ${reasonOf(error)}`, {
        cause: error,
        context: { topic: topic.full, subscription },
      });
    }
  }
}

/**
 * A {@link Transport} over the official native client, `pulsar-client` (an optional peer
 * dependency that this library never imports: build a `Client` and pass it in; the transport
 * never closes it).
 *
 * - Subscription types: `key-shared` → `KeyShared` with `AutoSplit` and in-order delivery
 *   (`allowOutOfOrderDelivery: false`), `failover` → `Failover`, `shared` → `Shared`.
 * - A receive loop calls `batchReceive()` and hands each batch to the engine while fewer than
 *   `receiverQueueSize` deliveries are unsettled and the subscription is not paused. The client's
 *   `listener` is not used: it awaits each message's handler before the next, so one slow key
 *   would stall the whole consumer.
 * - `ack` → `acknowledge` (not awaited by the engine), `nack` → `negativeAcknowledge` (redelivered
 *   after `nackRedeliveryDelayMs`, at least 100 ms in the client), `deadLetter` → a send to the
 *   dead-letter topic, awaited, then `acknowledge`. `maxRedeliverCount` becomes the client's
 *   `deadLetterPolicy` in Shared and Key_Shared; Pulsar does not apply it in Failover.
 * - Producers batch by key (`batchingType: 'KeyBasedBatching'`) and hash keys to partitions with
 *   `JavaStringHash`, as the Java client and the WebSocket API do.
 * - The client reconnects by itself; a consumer whose `isConnected()` turned false is reported
 *   (`onError`), its deliveries are declared lost (`onDeliveriesLost`) and negatively acknowledged
 *   once (a partitioned consumer may have lost one partition's broker only).
 * - Topic names: a short name lives in `tenant`/`namespace` (`public/default`).
 *
 * @example
 * ```ts
 * import Pulsar from 'pulsar-client';
 * import { createExclusiveConsumer } from 'exclusive-consumer';
 * import { pulsarClientTransport } from 'exclusive-consumer/pulsar';
 *
 * const client = new Pulsar.Client({ serviceUrl: 'pulsar://127.0.0.1:6650' });
 * const transport = pulsarClientTransport({ client });
 * const consumer = createExclusiveConsumer('shopper-events', (e) => e.shopperId, handle, { transport });
 * await consumer.start();
 * // on shutdown: await consumer.stop(); await transport.close(); await client.close();
 * ```
 * @throws ConfigurationError when an option is invalid (at once, not on first use).
 */
export function pulsarClientTransport(options: PulsarClientTransportOptions): PulsarClientTransport {
  return new ClientTransport(resolveClientOptions(options));
}
