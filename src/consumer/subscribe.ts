import { performance } from 'node:perf_hooks';
import { isRetriable } from '../errors/classify.js';
import { TransportError, isTransportError } from '../errors/transport-error.js';
import { backoffDelay, type BackoffPolicy } from '../internal/backoff.js';
import { defaultDeadLetterTopic } from '../transports/dead-letter.js';
import type { SubscribeOptions, Subscription, SubscriptionType } from '../transports/types.js';
import type { ResolvedOptions } from './options.js';
import type { ConsumerMode } from './types.js';

const SUBSCRIPTION_TYPE: Readonly<Record<ConsumerMode, SubscriptionType>> = {
  'key-shared': 'key-shared',
  failover: 'failover',
  'shared-locked': 'shared',
  shared: 'shared',
};

/** Between attempts of the first subscription while the broker cannot be reached. */
const START_RETRY: BackoffPolicy = Object.freeze({ initialDelayMs: 100, maxDelayMs: 5000, factor: 2, jitter: 0.5 });

/** @internal What subscribing needs from its consumer besides its options. */
export interface SubscribeHost {
  /** Whether the consumer still starts: `stop()` ends the attempts. */
  starting(): boolean;
  reportError(error: unknown, phase: string): void;
}

/**
 * @internal Subscribe a consumer to `topic`, trying again with backoff for up to `startTimeoutMs`
 * while the failure is retriable (each failed attempt reported as a `start` error).
 */
export async function subscribeWithRetries<T>(
  topic: string,
  o: ResolvedOptions<T>,
  handlers: Pick<SubscribeOptions, 'onMessages' | 'onError' | 'onDeliveriesLost'>,
  host: SubscribeHost,
): Promise<Subscription> {
  const request: SubscribeOptions = {
    topic,
    subscription: o.subscription,
    consumerName: o.consumerName,
    type: SUBSCRIPTION_TYPE[o.mode],
    initialPosition: o.initialPosition,
    receiverQueueSize: o.maxInFlight,
    deadLetterTopic: o.deadLetterTopic ?? defaultDeadLetterTopic(topic, o.subscription),
    ...(o.maxRedeliverCount === undefined ? {} : { maxRedeliverCount: o.maxRedeliverCount }),
    ...(o.nackRedeliveryDelayMs === undefined ? {} : { nackRedeliveryDelayMs: o.nackRedeliveryDelayMs }),
    ...handlers,
  };
  const began = performance.now();
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await o.transport.subscribe(request);
    } catch (error) {
      const waited = performance.now() - began;
      if (!isRetriable(error) || !host.starting() || waited >= o.startTimeoutMs) {
        // A typed refusal (a subscription held with another type) says more than a wrapper would.
        if (attempt === 1 || !isRetriable(error) || !isTransportError(error)) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        throw new TransportError(`Could not subscribe to ${topic} in ${Math.round(waited)} ms (${attempt} attempts): ${reason}`, {
          cause: error,
          context: { topic, attempts: attempt },
        });
      }
      host.reportError(error, 'start');
      const delay = Math.min(backoffDelay(attempt, START_RETRY), Math.max(1, o.startTimeoutMs - waited));
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
