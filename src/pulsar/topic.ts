import { ConfigurationError } from '../errors/configuration-error.js';

/** A Pulsar topic name taken apart. */
export interface PulsarTopicName {
  readonly domain: 'persistent' | 'non-persistent';
  readonly tenant: string;
  readonly namespace: string;
  /** The topic's own name, e.g. `orders` (for a partition: `orders-partition-2`). */
  readonly local: string;
  /** `persistent://tenant/namespace/local`. */
  readonly full: string;
  /**
   * `persistent/tenant/namespace/local` with each segment URL-encoded: the path that follows
   * `/admin/v2/` and `/ws/v2/consumer/` (or `producer/`) in Pulsar's REST and WebSocket URLs.
   */
  readonly path: string;
}

const SCHEME = /^(persistent|non-persistent):\/\/(.*)$/;

function segment(option: string, name: string, value: string | undefined): string {
  if (value === undefined || value.length === 0 || value.includes('/')) {
    throw new ConfigurationError(
      option,
      'a topic name: `name`, `tenant/namespace/name` or `persistent://tenant/namespace/name`',
      name,
    );
  }
  return value;
}

/**
 * Resolve a topic name as Pulsar does: a short name (`orders`) lives in the default tenant and
 * namespace, `tenant/namespace/name` is persistent, and a full `persistent://…` or
 * `non-persistent://…` name is taken as it is.
 *
 * @example
 * ```ts
 * resolveTopic('orders', 'public', 'default').full; // 'persistent://public/default/orders'
 * ```
 * @throws ConfigurationError when `name` has another shape.
 */
export function resolveTopic(name: string, tenant: string, namespace: string, option = 'topic'): PulsarTopicName {
  if (typeof name !== 'string' || name.length === 0) throw new ConfigurationError(option, 'a non-empty string', name);
  const match = SCHEME.exec(name);
  const domain = (match?.[1] ?? 'persistent') as PulsarTopicName['domain'];
  const rest = match === null ? name : (match[2] ?? '');
  const parts = rest.split('/');
  let t = tenant;
  let ns = namespace;
  let local: string;
  if (parts.length === 1 && match === null) {
    local = segment(option, name, parts[0]);
  } else if (parts.length === 3) {
    t = segment(option, name, parts[0]);
    ns = segment(option, name, parts[1]);
    local = segment(option, name, parts[2]);
  } else {
    // Pulsar's v1 names (with a cluster segment) and anything else are refused rather than guessed.
    throw new ConfigurationError(
      option,
      'a topic name: `name`, `tenant/namespace/name` or `persistent://tenant/namespace/name`',
      name,
    );
  }
  return {
    domain,
    tenant: t,
    namespace: ns,
    local,
    full: `${domain}://${t}/${ns}/${local}`,
    path: [domain, t, ns, local].map(encodeURIComponent).join('/'),
  };
}

/** The name of partition `index` of a partitioned topic (`<topic>-partition-<index>`), as Pulsar names it. */
export function partitionTopic(full: string, index: number): string {
  return `${full}-partition-${index}`;
}
