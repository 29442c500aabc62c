import type { Emitter } from '../internal/emitter.js';
import { safeError, type ResolvedPrivacy } from '../logging/privacy.js';
import type { Delivery } from '../transports/types.js';
import type { Counts } from './counts.js';
import type { Entry } from './entry.js';
import type { RecentCompletions } from './recent-completions.js';
import type { ConsumerEvents } from './types.js';

/** @internal What settling messages needs from its consumer. */
export interface SettlementHost {
  readonly consumerName: string;
  readonly privacy: ResolvedPrivacy;
  readonly counts: Counts;
  readonly emitter: Emitter<ConsumerEvents>;
  /** Messages completed here, so that a redelivery of one is not run again; when remembered. */
  readonly completed: RecentCompletions | undefined;
  /** Whether the broker, not a lock, decides which consumer owns a key. */
  readonly routed: boolean;
  /** Whether the consumer is stopping. */
  stopping(): boolean;
  /** A message left the consumer: one fewer in flight. */
  left(): void;
  reportError(error: unknown, phase: string): void;
}

/**
 * @internal The four ways a message leaves the consumer, each counted and reported once:
 * acknowledged (done), released (given back to the broker, which delivers it again), dropped (its
 * connection is gone, and the broker already gave it to another consumer) or dead-lettered.
 */
export class Settlement {
  constructor(private readonly host: SettlementHost) {}

  ack(delivery: Delivery): void {
    try {
      const result = delivery.ack();
      if (result !== undefined) result.then(undefined, (error: unknown) => this.host.reportError(error, 'ack'));
    } catch (error) {
      this.host.reportError(error, 'ack');
    }
    this.host.left();
  }

  /** Give a message back to the broker for redelivery. */
  release(delivery: Delivery, key: string | undefined, reason: string): void {
    const host = this.host;
    // When stopping in a broker-routed mode, closing the subscription hands every unacknowledged
    // message over at once and in order; a negative ack would let the key move to another consumer
    // while its older messages wait out the nack delay, reordering them.
    if (!host.routed || !host.stopping()) {
      try {
        delivery.nack();
      } catch (error) {
        host.reportError(error, 'nack');
      }
    }
    host.counts.released += 1;
    host.left();
    if (host.emitter.has('message.released')) host.emitter.emit('message.released', { key, messageId: delivery.id, reason });
  }

  /** Let a message go without the broker: its connection is gone, the broker took it back. */
  drop(entry: Entry<unknown>): void {
    const host = this.host;
    host.counts.released += 1;
    host.left();
    if (host.emitter.has('message.released')) {
      host.emitter.emit('message.released', { key: entry.key, messageId: entry.delivery.id, reason: 'connection lost' });
    }
  }

  async deadLetter(delivery: Delivery, key: string | undefined, error: Error, attempts: number): Promise<void> {
    const host = this.host;
    const safe = safeError(error, host.privacy, key);
    try {
      await delivery.deadLetter({
        code: safe.code ?? safe.type,
        // The dead-letter topic is telemetry too: a foreign message may quote the payload.
        message: safe.message ?? safe.type,
        attempts,
        consumerName: host.consumerName,
      });
    } catch (dlqError) {
      // Never lost: the broker redelivers it, and the dead letter is tried again then.
      host.reportError(dlqError, 'dead-letter');
      this.release(delivery, key, 'dead-letter publish failed');
      return;
    }
    host.counts.deadLettered += 1;
    host.completed?.add(delivery.id);
    host.left();
    host.emitter.emit('message.dead-lettered', { key, messageId: delivery.id, error, attempts });
  }
}
