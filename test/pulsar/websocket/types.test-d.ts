import type WebSocket from 'ws';
import type { WebSocket as NamedWebSocket } from 'ws';
import { expectTypeOf, test } from 'vitest';
import type { Transport } from '../../../src/index.js';
import {
  pulsarAdmin,
  pulsarWebSocketTransport,
  type PulsarAdmin,
  type PulsarWebSocketOptions,
  type WebSocketConstructor,
} from '../../../src/pulsar/index.js';

test("ws's WebSocket class (default and named export) can be passed as `webSocket`", () => {
  expectTypeOf<typeof WebSocket>().toMatchTypeOf<WebSocketConstructor>();
  expectTypeOf<typeof NamedWebSocket>().toMatchTypeOf<WebSocketConstructor>();
  expectTypeOf<{ url: string; webSocket: typeof WebSocket }>().toMatchTypeOf<PulsarWebSocketOptions>();
});

test('the factories return a Transport (with a required close) and the admin client', () => {
  const transport = pulsarWebSocketTransport({ url: 'http://127.0.0.1:8080' });
  expectTypeOf(transport).toMatchTypeOf<Transport>();
  expectTypeOf(transport.close).toEqualTypeOf<() => Promise<void>>();
  expectTypeOf(transport.topicName).toEqualTypeOf<(topic: string) => string>();
  expectTypeOf(pulsarAdmin('http://127.0.0.1:8080')).toEqualTypeOf<PulsarAdmin>();
});
