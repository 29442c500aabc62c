import { inject } from 'vitest';
import WebSocket from 'ws';
import { pulsarAdmin, type WebSocketConstructor, type WebSocketInit, type WebSocketLike } from '../../../src/pulsar/index.js';
import { waitFor as waitUntil } from '../../helpers/index.js';

/** The dev broker's HTTP URL, or '' when Pulsar is unavailable (the suites then skip, saying why). */
export const webUrl: string = inject('pulsarWebUrl');

/** Why the live-broker suites skip, printed once per file; `undefined` when they run. */
export function skipReason(): string | undefined {
  if (webUrl !== '') return undefined;
  const why = `Pulsar unavailable (${inject('pulsarUnavailable') || 'no broker'}): skipping the live-broker tests`;
  process.stderr.write(`${why}\n`);
  return why;
}

/** A `ws` wrapper that records every socket it opens, so a test can cut a connection. */
export function recordingWebSocket(): { readonly ctor: WebSocketConstructor; readonly sockets: Array<{ url: string; socket: WebSocketLike }> } {
  const sockets: Array<{ url: string; socket: WebSocketLike }> = [];
  const ctor = function RecordingWebSocket(url: string, init: WebSocketInit): WebSocketLike {
    const socket = new WebSocket(url, init);
    sockets.push({ url, socket });
    return socket;
  } as unknown as WebSocketConstructor;
  return { ctor, sockets };
}

export { sleep } from '../../helpers/index.js';

/** `waitFor` with the live tests' longer default: a broker on a shared machine can be slow. */
export const waitFor = (what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> =>
  waitUntil(what, predicate, timeoutMs);

/**
 * Resolves once the broker at `url` holds nothing unacknowledged on `subscription` of `topic`
 * (every partition): a fixed end for a run, independent of what the consumers recorded.
 */
export async function waitDrained(url: string, topic: string, subscription: string, timeoutMs = 30_000): Promise<void> {
  const admin = pulsarAdmin(url);
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const stats = await admin.subscriptionStats(topic, subscription);
      if (stats !== undefined && stats.backlog === 0 && stats.unacked === 0) return;
      last = stats;
    } catch (error) {
      last = (error as Error).message; // a broker restarting answers nothing for a while
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${topic}/${subscription} to drain: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
