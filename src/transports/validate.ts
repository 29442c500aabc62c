import { ConfigurationError } from '../errors/index.js';
import { functionArgument, integerOption, numberOption } from '../internal/validate.js';
import type { SubscribeOptions } from './types.js';

const SUBSCRIPTION_TYPES: readonly string[] = ['key-shared', 'failover', 'shared'];
const INITIAL_POSITIONS: readonly string[] = ['earliest', 'latest'];

function requireName(option: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new ConfigurationError(option, 'a non-empty string', value);
  }
}

function requireChoice(option: string, value: unknown, choices: readonly string[]): void {
  if (typeof value !== 'string' || !choices.includes(value)) {
    throw new ConfigurationError(option, `one of ${choices.map((c) => `'${c}'`).join(', ')}`, value);
  }
}

/** @internal Throws a `ConfigurationError` naming the first option `subscribe` cannot use. */
export function validateSubscribeOptions(options: SubscribeOptions): void {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError('options', 'an object', options);
  requireName('topic', options.topic);
  requireName('subscription', options.subscription);
  requireName('consumerName', options.consumerName);
  requireChoice('type', options.type, SUBSCRIPTION_TYPES);
  requireChoice('initialPosition', options.initialPosition, INITIAL_POSITIONS);
  if (options.receiverQueueSize === undefined) {
    throw new ConfigurationError('receiverQueueSize', 'an integer ≥ 1', undefined);
  }
  integerOption('receiverQueueSize', options.receiverQueueSize, 1, 1);
  requireName('deadLetterTopic', options.deadLetterTopic);
  integerOption('maxRedeliverCount', options.maxRedeliverCount, 0, 0);
  numberOption('nackRedeliveryDelayMs', options.nackRedeliveryDelayMs, 0, 0);
  functionArgument('onMessages', options.onMessages);
  if (options.onError !== undefined) functionArgument('onError', options.onError);
}
