import { inject } from 'vitest';
import WebSocket from 'ws';
import type { WebSocketConstructor, WebSocketInit, WebSocketLike } from '../../../src/pulsar/index.js';

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

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `predicate` until it holds or `timeoutMs` passes (then throw with `what`). */
export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}
