import { ConfigurationError } from '../../errors/configuration-error.js';
import type { BackoffPolicy } from '../../internal/backoff.js';
import { integerOption, knownOptions, objectOption, optionNames, optionsArgument, stringOption } from '../../internal/validate.js';
import { resolvePulsarTransportOptions, type PulsarTransportBaseOptions, type ResolvedPulsarTransportOptions } from '../transport-options.js';
import type { WebSocketConstructor } from './socket.js';

const OPTION_NAMES = optionNames<PulsarWebSocketOptions>({
  tenant: true,
  namespace: true,
  deadLetterSubscription: true,
  failoverRedeliverAfterMs: true,
  url: true,
  token: true,
  headers: true,
  reconnect: true,
  pingIntervalMs: true,
  connectTimeoutMs: true,
  maxPendingSends: true,
  sendTimeoutMs: true,
  webSocket: true,
});
const RECONNECT_OPTION_NAMES = optionNames<PulsarWebSocketReconnectOptions>({ initialDelayMs: true, maxDelayMs: true });

/** Reconnection backoff of the WebSocket transport. */
export interface PulsarWebSocketReconnectOptions {
  /**
   * Delay before the first reconnection attempt; each failed attempt doubles it, up to
   * `maxDelayMs`. Every delay is drawn between 50% and 100% of its value (jitter), so that a fleet
   * of consumers does not reconnect in lockstep after a broker restart.
   * @default 100
   */
  readonly initialDelayMs?: number;
  /** @default 10_000 */
  readonly maxDelayMs?: number;
}

/**
 * Options of {@link pulsarWebSocketTransport}. Validated when the transport is created.
 *
 * @example
 * ```ts
 * const transport = pulsarWebSocketTransport({ url: 'http://127.0.0.1:8080', token: process.env.PULSAR_TOKEN });
 * ```
 */
export interface PulsarWebSocketOptions extends PulsarTransportBaseOptions {
  /**
   * Base URL of the broker's HTTP service (which serves the WebSocket API when
   * `webSocketServiceEnabled=true`) or of a Pulsar WebSocket proxy: `http://host:8080`,
   * `https://…`, `ws://…` or `wss://…`. A path prefix (a proxy mounted under `/pulsar`) is kept.
   */
  readonly url: string;
  /** Authentication token, sent as `Authorization: Bearer <token>` on every connection. */
  readonly token?: string;
  /** Extra HTTP headers of every connection (e.g. another authentication scheme). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly reconnect?: PulsarWebSocketReconnectOptions;
  /**
   * Ping every open connection this often. The broker closes sessions idle for
   * `webSocketSessionIdleTimeoutMillis` (5 minutes by default), and a connection that answered
   * no ping within one interval is treated as dead and replaced. 0 disables pings.
   * @default 30_000
   */
  readonly pingIntervalMs?: number;
  /** How long the HTTP upgrade of a connection may take. @default 10_000 */
  readonly connectTimeoutMs?: number;
  /**
   * Messages one producer may have sent and not yet confirmed; further sends wait. Keeps the
   * broker-side producer queue from overflowing.
   * @default 1000
   */
  readonly maxPendingSends?: number;
  /**
   * How long a `send` may wait for a connection and for the broker's confirmation before it
   * rejects with a retriable `TransportError`.
   * @default 30_000
   */
  readonly sendTimeoutMs?: number;
  /**
   * The WebSocket class to use. By default the optional peer dependency `ws` is imported on first
   * use; pass its `WebSocket` (or a compatible wrapper, e.g. in tests) to choose it yourself.
   */
  readonly webSocket?: WebSocketConstructor;
}

/** @internal Options with defaults applied. */
export interface ResolvedWebSocketOptions extends ResolvedPulsarTransportOptions {
  /** `ws://host:port/prefix` without a trailing slash. */
  readonly wsBase: string;
  /** `http://host:port/prefix` without a trailing slash. */
  readonly httpBase: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Reconnection backoff: doubling, each delay drawn between 50% and 100% of its value. */
  readonly reconnect: BackoffPolicy;
  readonly pingIntervalMs: number;
  readonly connectTimeoutMs: number;
  readonly maxPendingSends: number;
  readonly sendTimeoutMs: number;
  readonly webSocket: WebSocketConstructor | undefined;
}

/** @internal Both the WebSocket and the HTTP form of a base URL. */
export function baseUrls(option: string, url: unknown): { wsBase: string; httpBase: string } {
  if (typeof url !== 'string' || url.length === 0) {
    throw new ConfigurationError(option, 'a URL such as http://127.0.0.1:8080', url);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigurationError(option, 'a URL such as http://127.0.0.1:8080', url);
  }
  const secure = parsed.protocol === 'https:' || parsed.protocol === 'wss:';
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(parsed.protocol)) {
    throw new ConfigurationError(option, 'an http://, https://, ws:// or wss:// URL', url);
  }
  const rest = `${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
  return { wsBase: `${secure ? 'wss' : 'ws'}://${rest}`, httpBase: `${secure ? 'https' : 'http'}://${rest}` };
}

/** @internal Headers from `token` and `headers`, validated. */
export function requestHeaders(token: unknown, headers: unknown): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  if (headers !== undefined) {
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
      throw new ConfigurationError('headers', 'an object of strings', headers);
    }
    for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
      if (typeof value !== 'string') throw new ConfigurationError(`headers.${name}`, 'a string', value);
      out[name] = value;
    }
  }
  if (token !== undefined) out.Authorization = `Bearer ${stringOption('token', token, '')}`;
  return Object.freeze(out);
}

/** @internal Validate and apply defaults; throws `ConfigurationError` naming the option. */
export function resolveWebSocketOptions(options: PulsarWebSocketOptions): ResolvedWebSocketOptions {
  optionsArgument(options, OPTION_NAMES);
  const base = resolvePulsarTransportOptions(options);
  const { wsBase, httpBase } = baseUrls('url', options.url);
  const reconnect: PulsarWebSocketOptions['reconnect'] & object = objectOption('reconnect', options.reconnect);
  knownOptions(reconnect, RECONNECT_OPTION_NAMES, 'reconnect.');
  const initialDelayMs = integerOption('reconnect.initialDelayMs', reconnect.initialDelayMs, 100, 1);
  const maxDelayMs = integerOption('reconnect.maxDelayMs', reconnect.maxDelayMs, Math.max(10_000, initialDelayMs), 1);
  if (maxDelayMs < initialDelayMs) {
    throw new ConfigurationError('reconnect.maxDelayMs', `an integer ≥ reconnect.initialDelayMs (${initialDelayMs})`, maxDelayMs);
  }
  if (options.webSocket !== undefined && typeof options.webSocket !== 'function') {
    throw new ConfigurationError('webSocket', 'a ws-compatible WebSocket class', options.webSocket);
  }
  return Object.freeze({
    ...base,
    wsBase,
    httpBase,
    headers: requestHeaders(options.token, options.headers),
    reconnect: Object.freeze({ initialDelayMs, maxDelayMs, factor: 2, jitter: 0.5 }),
    pingIntervalMs: integerOption('pingIntervalMs', options.pingIntervalMs, 30_000, 0),
    connectTimeoutMs: integerOption('connectTimeoutMs', options.connectTimeoutMs, 10_000, 1),
    maxPendingSends: integerOption('maxPendingSends', options.maxPendingSends, 1000, 1),
    sendTimeoutMs: integerOption('sendTimeoutMs', options.sendTimeoutMs, 30_000, 1),
    webSocket: options.webSocket,
  });
}
