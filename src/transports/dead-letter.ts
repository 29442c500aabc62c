import type { DeadLetterReason, MessageMeta, OutgoingMessage } from './types.js';

/**
 * Property names a dead-lettered message carries. `REAL_TOPIC` and `ORIGIN_MESSAGE_ID` are the
 * names Pulsar's own dead-letter policy uses; the `EC_DLQ_*` ones record why the library gave up.
 */
export const DeadLetterProperties = Object.freeze({
  realTopic: 'REAL_TOPIC',
  originMessageId: 'ORIGIN_MESSAGE_ID',
  code: 'EC_DLQ_CODE',
  reason: 'EC_DLQ_REASON',
  attempts: 'EC_DLQ_ATTEMPTS',
  consumer: 'EC_DLQ_CONSUMER',
  redeliveryCount: 'EC_DLQ_REDELIVERY_COUNT',
} as const);

/** Pulsar's default dead-letter topic name for a subscription. */
export function defaultDeadLetterTopic(topic: string, subscription: string): string {
  return `${topic}-${subscription}-DLQ`;
}

const MAX_REASON_LENGTH = 1024;

/**
 * The message a transport publishes to the dead-letter topic: same payload, partition key and
 * properties, plus the origin and the reason. Transports share this so dead letters look alike
 * whatever the broker adapter.
 */
export function deadLetterMessage(message: MessageMeta, reason: DeadLetterReason): OutgoingMessage {
  const text = reason.message.length > MAX_REASON_LENGTH ? `${reason.message.slice(0, MAX_REASON_LENGTH)}…` : reason.message;
  return {
    data: message.data,
    ...(message.partitionKey === undefined ? {} : { partitionKey: message.partitionKey }),
    properties: {
      ...message.properties,
      [DeadLetterProperties.realTopic]: message.topic,
      [DeadLetterProperties.originMessageId]: message.id,
      [DeadLetterProperties.code]: reason.code,
      [DeadLetterProperties.reason]: text,
      [DeadLetterProperties.attempts]: String(reason.attempts),
      [DeadLetterProperties.consumer]: reason.consumerName,
      [DeadLetterProperties.redeliveryCount]: String(message.redeliveryCount),
    },
  };
}
