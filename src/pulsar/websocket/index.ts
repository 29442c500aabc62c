export { pulsarWebSocketTransport } from './transport.js';
export type { PulsarWebSocketTransport } from './transport.js';
export type { PulsarWebSocketOptions, PulsarWebSocketReconnectOptions } from './options.js';
export type { WebSocketConstructor, WebSocketInit, WebSocketLike } from './socket.js';
