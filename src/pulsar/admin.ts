import { TransportError } from '../errors/transport-error.js';
import { baseUrls, requestHeaders } from './websocket/options.js';
import { resolveTopic, type PulsarTopicName } from './topic.js';
import { integerOption, optionNames, optionsArgument, stringOption } from '../internal/validate.js';

const OPTION_NAMES = optionNames<PulsarAdminOptions>({
  tenant: true,
  namespace: true,
  token: true,
  headers: true,
  timeoutMs: true,
});

/** Options of {@link pulsarAdmin}. */
export interface PulsarAdminOptions {
  /** Tenant of short topic names. @default 'public' */
  readonly tenant?: string;
  /** Namespace of short topic names. @default 'default' */
  readonly namespace?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Extra HTTP headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Per-request timeout. @default 10_000 */
  readonly timeoutMs?: number;
}

/** One consumer of a subscription, as the admin API reports it (summed over partitions, by name). */
export interface PulsarSubscriptionConsumerStats {
  /** The consumer name (the library's `consumerName`). */
  readonly name: string;
  /** Messages delivered to it and not yet acknowledged. */
  readonly unacked: number;
  /**
   * Key_Shared on Pulsar ≥ 4.0: hashes moved away from this consumer that still wait for its
   * unacknowledged messages ("draining hashes"); `undefined` when the broker does not report them.
   */
  readonly drainingHashes: number | undefined;
  /** Whether the broker stopped dispatching to it: it reached its unacked-messages limit. */
  readonly blocked: boolean;
}

/** Backlog and dispatch state of one subscription, as the admin API reports it. */
export interface PulsarSubscriptionStats {
  /** Messages not yet acknowledged by the subscription (summed over partitions). */
  readonly backlog: number;
  /** Messages delivered and not yet acknowledged (summed over partitions). */
  readonly unacked: number;
  /** Connected consumers (per partition for a partitioned topic, so a consumer counts once per partition). */
  readonly consumers: number;
  /** The subscription type, e.g. `Key_Shared`, `Failover`; `undefined` when the broker does not say. */
  readonly type: string | undefined;
  /** Whether the broker stopped dispatching on some partition: the subscription reached its unacked-messages limit. */
  readonly blocked: boolean;
  /**
   * Key_Shared on Pulsar ≥ 4.0 (PIP-379, `drainingHashesCount`): hashes whose messages wait
   * because another consumer still holds unacknowledged messages of them. A count that stays up
   * means a consumer is not acknowledging (a stuck handler): the keys it blocks go nowhere.
   * `undefined` when the broker does not report it (another type, an older broker).
   */
  readonly drainingHashes: number | undefined;
  /** Key_Shared on Pulsar ≥ 4.0 (`drainingHashesUnackedMessages`): unacknowledged messages that block those hashes. */
  readonly drainingUnacked: number | undefined;
  /** Each consumer (summed over partitions, by name). */
  readonly consumerStats: readonly PulsarSubscriptionConsumerStats[];
}

/**
 * The few calls of Pulsar's admin REST API (`/admin/v2`) that tests, demos and deployment scripts
 * of this library need. No dependency: it uses the global `fetch`.
 */
export interface PulsarAdmin {
  /**
   * Create a partitioned topic. Resolves `true` when created, `false` when a topic of that name
   * already existed (its partition count is not checked; use {@link PulsarAdmin.partitions}).
   */
  createPartitionedTopic(topic: string, partitions: number): Promise<boolean>;
  /**
   * Create a durable subscription at the earliest (default) or latest position, on every partition
   * of a partitioned topic. Creates the topic if needed. Resolves `false` when it already existed.
   */
  createSubscription(topic: string, subscription: string, position?: 'earliest' | 'latest'): Promise<boolean>;
  /**
   * Delete a topic (all partitions of a partitioned topic), disconnecting its clients when `force`
   * is set. Resolves `false` when there was no such topic.
   */
  deleteTopic(topic: string, options?: { readonly force?: boolean }): Promise<boolean>;
  /** Partition count of a topic: 0 for a non-partitioned (or missing) topic. */
  partitions(topic: string): Promise<number>;
  /**
   * Unload a topic (every partition of a partitioned one) from its broker, as the load manager does
   * when it sheds a bundle: every client of it is disconnected and reconnects, possibly to another
   * broker. For testing what a deployment does on the routine reconnects of a cluster.
   */
  unloadTopic(topic: string): Promise<void>;
  /**
   * Backlog, unacknowledged messages, consumers and (Key_Shared, Pulsar ≥ 4.0) draining hashes of
   * `subscription` on `topic`, summed over partitions (`GET …/stats`, or `…/partitioned-stats`
   * per partition); `undefined` when there is no such subscription.
   */
  subscriptionStats(topic: string, subscription: string): Promise<PulsarSubscriptionStats | undefined>;
}

interface ConsumerStatsJson {
  readonly consumerName?: string;
  readonly unackedMessages?: number;
  readonly blockedConsumerOnUnackedMsgs?: boolean;
  readonly drainingHashesCount?: number;
}

interface SubscriptionStatsJson {
  readonly msgBacklog?: number;
  readonly unackedMessages?: number;
  readonly type?: string;
  readonly blockedSubscriptionOnUnackedMsgs?: boolean;
  readonly drainingHashesCount?: number;
  readonly drainingHashesUnackedMessages?: number;
  readonly consumers?: readonly ConsumerStatsJson[];
}

interface TopicStatsJson {
  readonly subscriptions?: Record<string, SubscriptionStatsJson>;
  /** `partitioned-stats` with `perPartition=true`: each partition's own stats. */
  readonly partitions?: Record<string, TopicStatsJson>;
}

/** Optional counts summed: `undefined` only when no part reported one. */
const addOptional = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : a + b;

/**
 * One subscription's stats over the partitions. The broker's own sum (partitioned-stats) adds
 * consumers up by position, not by name, and leaves their draining hashes out: summed here.
 */
function subscriptionOf(parts: readonly SubscriptionStatsJson[]): PulsarSubscriptionStats {
  let backlog = 0;
  let unacked = 0;
  let consumers = 0;
  let blocked = false;
  let drainingHashes: number | undefined;
  let drainingUnacked: number | undefined;
  let type: string | undefined;
  const byName = new Map<string, { unacked: number; drainingHashes: number | undefined; blocked: boolean }>();
  for (const part of parts) {
    backlog += part.msgBacklog ?? 0;
    unacked += part.unackedMessages ?? 0;
    blocked ||= part.blockedSubscriptionOnUnackedMsgs === true;
    drainingHashes = addOptional(drainingHashes, part.drainingHashesCount);
    drainingUnacked = addOptional(drainingUnacked, part.drainingHashesUnackedMessages);
    type ??= part.type;
    const list = Array.isArray(part.consumers) ? part.consumers : [];
    consumers += list.length;
    for (const c of list) {
      const name = c.consumerName ?? '';
      const seen = byName.get(name) ?? { unacked: 0, drainingHashes: undefined, blocked: false };
      byName.set(name, {
        unacked: seen.unacked + (c.unackedMessages ?? 0),
        drainingHashes: addOptional(seen.drainingHashes, c.drainingHashesCount),
        blocked: seen.blocked || c.blockedConsumerOnUnackedMsgs === true,
      });
    }
  }
  return {
    backlog,
    unacked,
    consumers,
    type,
    blocked,
    drainingHashes,
    drainingUnacked,
    consumerStats: [...byName].map(([name, c]) => ({ name, ...c })),
  };
}

/** Pulsar's `MessageId.latest` as JSON: its 64-bit ids do not fit a JavaScript number, so written as text. */
const LATEST = '{"ledgerId":9223372036854775807,"entryId":9223372036854775807,"partitionIndex":-1}';
const EARLIEST = '{"ledgerId":-1,"entryId":-1,"partitionIndex":-1}';

/**
 * A small client of Pulsar's admin REST API at `url` (the broker's HTTP service, e.g.
 * `http://127.0.0.1:8080`).
 *
 * @example
 * ```ts
 * const admin = pulsarAdmin('http://127.0.0.1:8080');
 * await admin.createPartitionedTopic('shopper-events', 4);
 * await admin.createSubscription('shopper-events-decisions-DLQ', 'decisions');
 * ```
 * @throws ConfigurationError when `url` or an option is invalid.
 */
export function pulsarAdmin(url: string, options: PulsarAdminOptions = {}): PulsarAdmin {
  const { httpBase } = baseUrls('url', url);
  optionsArgument(options, OPTION_NAMES);
  const tenant = stringOption('tenant', options.tenant, 'public');
  const namespace = stringOption('namespace', options.namespace, 'default');
  const headers = requestHeaders(options.token, options.headers);
  const timeoutMs = integerOption('timeoutMs', options.timeoutMs, 10_000, 1);
  const resolve = (topic: string): PulsarTopicName => resolveTopic(topic, tenant, namespace);

  /** One request; resolves with the status and body of any 2xx or of an `accepted` status. */
  const request = async (
    method: string,
    path: string,
    body: string | undefined,
    accepted: readonly number[] = [],
  ): Promise<{ status: number; text: string }> => {
    const target = `${httpBase}/admin/v2/${path}`;
    let response: Response;
    try {
      response = await fetch(target, {
        method,
        headers: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new TransportError(`Pulsar admin ${method} ${target} failed: ${(error as Error).message}`, {
        cause: error,
        context: { method, url: target },
      });
    }
    const text = await response.text();
    if (response.ok || accepted.includes(response.status)) return { status: response.status, text };
    throw new TransportError(`Pulsar admin ${method} ${target} answered ${response.status}: ${text.slice(0, 500)}`, {
      retriable: response.status >= 500,
      context: { method, url: target, status: response.status, body: text.slice(0, 500) },
    });
  };

  const partitions = async (topic: string): Promise<number> => {
    const { status, text } = await request('GET', `${resolve(topic).path}/partitions`, undefined, [404]);
    if (status === 404) return 0;
    const parsed = JSON.parse(text) as { partitions?: number };
    return parsed.partitions ?? 0;
  };

  return {
    async createPartitionedTopic(topic, count) {
      integerOption('partitions', count, 1, 1);
      const { status } = await request('PUT', `${resolve(topic).path}/partitions`, String(count), [409]);
      return status !== 409;
    },
    async createSubscription(topic, subscription, position = 'earliest') {
      stringOption('subscription', subscription, '');
      const path = `${resolve(topic).path}/subscription/${encodeURIComponent(subscription)}`;
      const { status } = await request('PUT', path, position === 'latest' ? LATEST : EARLIEST, [409]);
      return status !== 409;
    },
    async deleteTopic(topic, deleteOptions = {}) {
      const t = resolve(topic);
      const force = deleteOptions.force === true ? '?force=true' : '';
      const partitioned = (await partitions(topic)) > 0;
      const path = partitioned ? `${t.path}/partitions${force}` : `${t.path}${force}`;
      const { status } = await request('DELETE', path, undefined, [404]);
      return status !== 404;
    },
    partitions,
    async unloadTopic(topic) {
      await request('PUT', `${resolve(topic).path}/unload`, undefined);
    },
    async subscriptionStats(topic, subscription) {
      stringOption('subscription', subscription, '');
      const t = resolve(topic);
      const partitioned = (await partitions(topic)) > 0;
      const path = `${t.path}/${partitioned ? 'partitioned-stats?perPartition=true' : 'stats'}`;
      const { status, text } = await request('GET', path, undefined, [404]);
      if (status === 404) return undefined;
      const stats = JSON.parse(text) as TopicStatsJson;
      const tops = partitioned && stats.partitions !== undefined ? Object.values(stats.partitions) : [stats];
      const parts = tops.flatMap((p) => (p.subscriptions?.[subscription] === undefined ? [] : [p.subscriptions[subscription]]));
      if (parts.length === 0) return undefined;
      return subscriptionOf(parts);
    },
  };
}
