import { ConfigurationError } from '../errors/index.js';
import { functionArgument, integerOption, numberOption, objectArgument, oneOfOption, stringOption } from '../internal/validate.js';
import type { InitialPosition, SubscribeOptions, SubscriptionType } from './types.js';

const SUBSCRIPTION_TYPES: readonly SubscriptionType[] = ['key-shared', 'failover', 'shared'];
const INITIAL_POSITIONS: readonly InitialPosition[] = ['earliest', 'latest'];

/** @internal Throws a `ConfigurationError` naming the first option `subscribe` cannot use. */
export function validateSubscribeOptions(options: SubscribeOptions): void {
  objectArgument('options', options);
  stringOption('topic', options.topic);
  stringOption('subscription', options.subscription);
  stringOption('consumerName', options.consumerName);
  oneOfOption('type', options.type, undefined, SUBSCRIPTION_TYPES);
  oneOfOption('initialPosition', options.initialPosition, undefined, INITIAL_POSITIONS);
  if (options.receiverQueueSize === undefined) {
    throw new ConfigurationError('receiverQueueSize', 'an integer ≥ 1', undefined);
  }
  integerOption('receiverQueueSize', options.receiverQueueSize, 1, 1);
  stringOption('deadLetterTopic', options.deadLetterTopic);
  integerOption('maxRedeliverCount', options.maxRedeliverCount, 0, 0);
  numberOption('nackRedeliveryDelayMs', options.nackRedeliveryDelayMs, 0, 0);
  functionArgument('onMessages', options.onMessages);
  if (options.onError !== undefined) functionArgument('onError', options.onError);
}
