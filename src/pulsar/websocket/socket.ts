import { ConfigurationError } from '../../errors/configuration-error.js';
import { TransportError } from '../../errors/transport-error.js';

/**
 * The part of a `ws` (v8) `WebSocket` the transport uses, typed structurally so that the library
 * never imports `ws` for its types and tests can pass a wrapper. Events used: `open`, `message`
 * (`(data, isBinary)`), `close` (`(code, reason)`), `error`, `pong`, `unexpected-response`
 * (`(request, response)`: the HTTP answer when the server refused the upgrade).
 */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  on(event: 'open' | 'pong', listener: () => void): unknown;
  /** `data`: a Buffer, an ArrayBuffer or an array of Buffers (fragments), as `ws` hands it over. */
  on(event: 'message', listener: (data: unknown, isBinary: boolean) => void): unknown;
  on(event: 'close', listener: (code: number, reason: unknown) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** The server refused the upgrade: `response` is Node's `IncomingMessage` (status and body are read). */
  on(event: 'unexpected-response', listener: (request: unknown, response: unknown) => void): unknown;
  send(data: string, callback?: (error?: Error) => void): void;
  ping(): void;
  close(code?: number, reason?: string): void;
  /** Destroy the connection at once (no closing handshake). */
  terminate(): void;
}

/** Options the transport passes when it opens a connection (a subset of `ws`'s `ClientOptions`). */
export interface WebSocketInit {
  readonly headers: Readonly<Record<string, string>>;
  /** Milliseconds to wait for the HTTP upgrade. */
  readonly handshakeTimeout: number;
  /** Pulsar's frames are small JSON; compression costs more CPU than it saves on loopback. */
  readonly perMessageDeflate: false;
}

/** A `ws`-compatible WebSocket class: `new WebSocket(url, init)`. The `WebSocket` export of `ws` fits. */
export type WebSocketConstructor = new (url: string, init: WebSocketInit) => WebSocketLike;

/** @internal readyState of an open socket. */
export const OPEN = 1;

let loaded: Promise<WebSocketConstructor> | undefined;

/**
 * @internal The `WebSocket` class of the optional peer dependency `ws`, imported on first use so
 * that users of other transports never load it. Fails with a `ConfigurationError` saying to install it.
 */
export function loadWebSocket(): Promise<WebSocketConstructor> {
  loaded ??= import('ws').then(
    (mod) => {
      const m = mod as unknown as { WebSocket?: unknown; default?: unknown };
      const ctor = typeof m.WebSocket === 'function' ? m.WebSocket : m.default;
      if (typeof ctor !== 'function') throw new Error('module "ws" has no WebSocket export');
      return ctor as WebSocketConstructor;
    },
    (error: unknown) => {
      loaded = undefined; // installing it later in a long-lived process should work
      const missing = new ConfigurationError(
        'webSocket',
        'a ws-compatible WebSocket class: install the optional peer dependency `ws` (npm install ws) or pass `webSocket`',
        undefined,
      );
      (missing as { cause?: unknown }).cause = error;
      throw missing;
    },
  );
  return loaded;
}

/** @internal Text of a received frame (`ws` hands over a Buffer, an ArrayBuffer or fragments). */
export function frameText(data: unknown): string {
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  return String(data);
}

/** @internal Strips credentials a URL may carry, for error messages. */
export function safeUrl(url: string): string {
  return url.replace(/([?&](?:token|auth[^=]*)=)[^&]*/gi, '$1***');
}

/** Handlers attached before the connection opens, so that nothing arriving early is missed. */
export interface SocketHandlers {
  message(data: unknown): void;
  /** The open connection closed (not called when opening fails: the promise rejects instead). */
  close(code: number, reason: string): void;
  pong(): void;
}

/** What is read of the HTTP response to a refused upgrade (Node's `IncomingMessage`). */
interface HttpResponseLike {
  readonly statusCode?: number;
  on(event: 'data', listener: (chunk: unknown) => void): unknown;
  on(event: 'end' | 'error', listener: () => void): unknown;
}

/**
 * What a refused upgrade means. Pulsar's WebSocket service answers 400 for bad parameters, 401/403
 * for authentication and authorization, 404 for a missing topic or namespace, 409 when an
 * exclusive consumer is already connected, 500 for other broker failures (e.g. a topic not loaded yet).
 */
function retriableStatus(status: number): boolean {
  return status === 409 || status === 429 || status >= 500;
}

/**
 * @internal Open a connection; resolves once it is open. Rejects with a `TransportError` (carrying
 * `status` and `body` when the server refused the upgrade) otherwise.
 */
export function openSocket(
  WebSocket: WebSocketConstructor,
  url: string,
  init: WebSocketInit,
  handlers: SocketHandlers,
  what: string,
  onCreated?: (socket: WebSocketLike) => void,
): Promise<WebSocketLike> {
  return new Promise((resolve, reject) => {
    let socket: WebSocketLike;
    try {
      socket = new WebSocket(url, init);
    } catch (error) {
      reject(new TransportError(`Could not open ${what} at ${safeUrl(url)}: ${(error as Error).message}`, { cause: error, retriable: false }));
      return;
    }
    onCreated?.(socket);
    let opened = false;
    let failure: Error | undefined;
    let refused: { status: number; body: string } | undefined;
    socket.on('unexpected-response', (_request, res) => {
      const response = res as HttpResponseLike;
      const status = response.statusCode ?? 0;
      let body = '';
      const done = (): void => {
        refused = { status, body: body.trim().slice(0, 500) };
        socket.terminate();
      };
      response.on('data', (chunk) => {
        if (body.length < 2000) body += frameText(chunk);
      });
      response.on('end', done);
      response.on('error', done);
    });
    socket.on('open', () => {
      opened = true;
      resolve(socket);
    });
    socket.on('message', (data) => handlers.message(data));
    socket.on('pong', () => handlers.pong());
    socket.on('error', (error) => {
      failure ??= error;
    });
    socket.on('close', (code, reason) => {
      if (opened) {
        handlers.close(code, frameText(reason ?? ''));
        return;
      }
      if (refused !== undefined) {
        const detail = refused.body.length > 0 ? `: ${refused.body}` : '';
        reject(
          new TransportError(`Pulsar refused ${what} (HTTP ${refused.status})${detail}`, {
            retriable: retriableStatus(refused.status),
            context: { url: safeUrl(url), status: refused.status, body: refused.body },
          }),
        );
        return;
      }
      const message = failure?.message ?? `closed with code ${code}`;
      reject(
        new TransportError(`Could not connect ${what} to ${safeUrl(url)}: ${message}`, {
          cause: failure,
          context: { url: safeUrl(url) },
        }),
      );
    });
  });
}

/** @internal Close `socket` politely and resolve once closed, terminating it after `timeoutMs`. */
export function closeSocket(socket: WebSocketLike, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (socket.readyState === 3) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      socket.terminate();
      resolve();
    }, timeoutMs);
    timer.unref?.();
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      if (socket.readyState === 0) socket.terminate();
      else socket.close(1000, 'closed by client');
    } catch {
      socket.terminate();
    }
  });
}

/** The TCP socket under a `ws` WebSocket (an undocumented but stable field of ws 8). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * @internal Sends frames, holding the TCP socket corked until the end of the event-loop turn so
 * that the frames of one turn (the acks of a batch of handlers, a burst of sends) leave in one
 * write instead of one system call each — on a busy consumer that is most of the client's CPU.
 * Without access to the TCP socket (another WebSocket class) frames are sent one by one.
 */
export class FrameWriter {
  readonly #socket: WebSocketLike;
  readonly #tcp: Corkable | undefined;
  #corked = false;
  readonly #uncork = (): void => {
    this.#corked = false;
    this.#tcp?.uncork();
  };

  /**
   * @param holdMs 0: release the frames at the end of the turn (`setImmediate`). More: hold them up
   *   to that long, so that frames of turns that each carry one (a consumer reading one message
   *   per socket read) still share a write.
   */
  constructor(socket: WebSocketLike, readonly holdMs = 0) {
    this.#socket = socket;
    const tcp = (socket as { _socket?: Partial<Corkable> | null })._socket;
    this.#tcp = tcp != null && typeof tcp.cork === 'function' && typeof tcp.uncork === 'function' ? (tcp as Corkable) : undefined;
  }

  /** Send `frame` if the connection is open; frames sent while it closes are dropped (its close handler runs next). */
  send(frame: string): void {
    if (this.#socket.readyState !== OPEN) return;
    if (!this.#corked && this.#tcp !== undefined) {
      this.#corked = true;
      this.#tcp.cork();
      if (this.holdMs === 0) setImmediate(this.#uncork);
      else setTimeout(this.#uncork, this.holdMs);
    }
    this.#socket.send(frame);
  }
}
