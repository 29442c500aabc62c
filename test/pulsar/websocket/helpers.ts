import { inject } from 'vitest';
import WebSocket from 'ws';
import type { WebSocketConstructor, WebSocketInit, WebSocketLike } from '../../../src/pulsar/index.js';
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
