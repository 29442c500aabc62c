import { ExclusiveConsumerError, hasCode } from './base.js';

/**
 * The broker refused the consumer because the subscription is held by connected consumers of
 * another subscription type: Pulsar lets a subscription have one type at a time. This is what
 * moving a live subscription between modes (`shared-locked` → `failover` → `key-shared`) runs
 * into when the new fleet starts before the old one stopped. Retriable: it clears once the old
 * consumers are gone, so `start()` keeps trying for `startTimeoutMs`.
 */
export class SubscriptionTypeConflictError extends ExclusiveConsumerError {
  static readonly code = 'EC_SUBSCRIPTION_TYPE';

  constructor(topic: string, subscription: string, requested: string, detail: string, cause?: unknown) {
    super(
      `Subscription "${subscription}" of ${topic} is held by consumers of another type than ${requested} (${detail}): ` +
        'a subscription has one type at a time; stop the consumers of the old mode before starting those of the new one',
      SubscriptionTypeConflictError.code,
      true,
      { cause, context: { topic, subscription, requested } },
    );
  }
}

/** True for a {@link SubscriptionTypeConflictError} from any copy of the library. */
export const isSubscriptionTypeConflictError = hasCode<SubscriptionTypeConflictError>(SubscriptionTypeConflictError.code);
