import { TransportError } from '../../errors/transport-error.js';
import type { OutgoingMessage, TopicProducer } from '../../transports/types.js';
import type { PulsarTopicName } from '../topic.js';
import { backoffDelay } from '../../internal/backoff.js';
import { Deque } from '../../internal/deque.js';
import type { ResolvedWebSocketOptions } from './options.js';
import { FrameWriter, OPEN, closeSocket, frameText, openSocket, type WebSocketConstructor, type WebSocketLike } from './socket.js';

/** One send waiting for its connection or for the broker's answer. */
interface PendingSend {
  readonly context: string;
  readonly frame: string;
  readonly deadline: number;
  readonly promise: Promise<string>;
  resolve(messageId: string): void;
  reject(error: Error): void;
}

/** A producer reply as the WebSocket API sends it. */
interface ProducerReply {
  readonly result?: unknown;
  readonly messageId?: unknown;
  readonly context?: unknown;
  readonly errorMsg?: unknown;
}

function encodePayload(data: Uint8Array): string {
  return (Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)).toString('base64');
}

/**
 * @internal A producer of one topic over the WebSocket API: one connection, one message per frame,
 * each tagged with a `context` that the broker echoes in its reply (replies of a partitioned topic
 * come back out of order). Up to `maxPendingSends` are in flight; further sends queue. A lost
 * connection rejects the sends it carried (they may or may not have been stored) and is replaced
 * on the next send, with backoff while it keeps failing.
 */
export class WsProducer implements TopicProducer {
  readonly topic: string;
  readonly #options: ResolvedWebSocketOptions;
  readonly #webSocket: () => Promise<WebSocketConstructor>;
  readonly #url: string;
  readonly #full: string;
  readonly #onClose: (producer: WsProducer) => void;
  #socket: WebSocketLike | undefined;
  #writer: FrameWriter | undefined;
  #connecting: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  /** Sent on the current connection, by context. */
  #inFlight = new Map<string, PendingSend>();
  /** Waiting for a connection or for room, oldest first. */
  readonly #queue = new Deque<PendingSend>();
  #seq = 0;
  #closed = false;
  #timeoutTimer: NodeJS.Timeout | undefined;

  constructor(
    topic: string,
    resolved: PulsarTopicName,
    options: ResolvedWebSocketOptions,
    webSocket: () => Promise<WebSocketConstructor>,
    onClose: (producer: WsProducer) => void,
  ) {
    this.topic = topic;
    this.#full = resolved.full;
    this.#options = options;
    this.#webSocket = webSocket;
    this.#onClose = onClose;
    this.#url = `${options.wsBase}/ws/v2/producer/${resolved.path}`;
  }

  /** Open the connection; rejects when the broker refuses the producer. */
  async start(): Promise<void> {
    await this.#connect();
  }

  send(message: OutgoingMessage): Promise<string> {
    if (this.#closed) {
      return Promise.reject(new TransportError(`Producer of "${this.#full}" closed`, { retriable: false, context: { topic: this.#full } }));
    }
    this.#seq += 1;
    const context = String(this.#seq);
    const body: Record<string, unknown> = { payload: encodePayload(message.data), context };
    if (message.properties !== undefined) body.properties = message.properties;
    if (message.partitionKey !== undefined) body.key = message.partitionKey;
    let resolve!: (id: string) => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<string>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const pending: PendingSend = {
      context,
      frame: JSON.stringify(body),
      deadline: performance.now() + this.#options.sendTimeoutMs,
      promise,
      resolve,
      reject,
    };
    if (this.#socket !== undefined && this.#queue.length === 0 && this.#inFlight.size < this.#options.maxPendingSends) {
      this.#write(pending);
    } else {
      this.#queue.push(pending);
      this.#ensureConnection();
    }
    this.#watchTimeouts();
    return promise;
  }

  /** Resolves once every send made so far is confirmed or has failed. */
  async flush(): Promise<void> {
    const all = [...this.#inFlight.values()].map((p) => p.promise);
    for (let i = 0; i < this.#queue.length; i++) all.push((this.#queue.get(i) as PendingSend).promise);
    await Promise.allSettled(all);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    if (this.#timeoutTimer !== undefined) clearInterval(this.#timeoutTimer);
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) await closeSocket(socket);
    this.#onClose(this);
  }

  // ------------------------------------------------------------------ connection

  #ensureConnection(): void {
    if (this.#socket !== undefined || this.#connecting !== undefined || this.#retryTimer !== undefined || this.#closed) return;
    void this.#connect().catch(() => undefined);
  }

  #connect(): Promise<void> {
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<void> {
    let socket: WebSocketLike;
    try {
      const WebSocket = await this.#webSocket();
      socket = await openSocket(
        WebSocket,
        this.#url,
        { headers: this.#options.headers, handshakeTimeout: this.#options.connectTimeoutMs, perMessageDeflate: false },
        {
          message: (data) => this.#reply(data),
          close: (code, reason) => this.#lost(socket, code, reason),
          pong: () => undefined,
        },
        `producer of ${this.#full}`,
      );
    } catch (error) {
      this.#attempt += 1;
      // Queued sends wait (until their deadline) for the next attempt.
      if (this.#queue.length > 0 && !this.#closed) {
        const delay = backoffDelay(this.#attempt, this.#options.reconnect);
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#ensureConnection();
        }, delay);
      }
      throw error;
    }
    if (this.#closed) {
      await closeSocket(socket);
      return;
    }
    this.#attempt = 0;
    this.#socket = socket;
    this.#writer = new FrameWriter(socket);
    this.#drain();
  }

  #write(pending: PendingSend): void {
    this.#inFlight.set(pending.context, pending);
    this.#writer?.send(pending.frame);
  }

  /** Send queued messages while there is room. */
  #drain(): void {
    const socket = this.#socket;
    if (socket === undefined || socket.readyState !== OPEN) return;
    const max = this.#options.maxPendingSends;
    while (this.#queue.length > 0 && this.#inFlight.size < max) this.#write(this.#queue.shift() as PendingSend);
  }

  #reply(data: unknown): void {
    let reply: ProducerReply;
    try {
      reply = JSON.parse(frameText(data)) as ProducerReply;
    } catch {
      return;
    }
    const pending = typeof reply.context === 'string' ? this.#inFlight.get(reply.context) : undefined;
    if (pending === undefined) return;
    this.#inFlight.delete(pending.context);
    if (reply.result === 'ok' && typeof reply.messageId === 'string') {
      pending.resolve(reply.messageId);
    } else {
      const detail = typeof reply.errorMsg === 'string' && reply.errorMsg.length > 0 ? `: ${reply.errorMsg}` : '';
      pending.reject(
        new TransportError(`Pulsar rejected a message for ${this.#full} (${String(reply.result)})${detail}`, {
          context: { topic: this.#full, result: reply.result },
        }),
      );
    }
    if (this.#queue.length > 0) this.#drain();
  }

  #lost(socket: WebSocketLike, code: number, reason: string): void {
    if (this.#socket !== socket) return;
    this.#socket = undefined;
    this.#writer = undefined;
    const inFlight = [...this.#inFlight.values()];
    this.#inFlight.clear();
    const why = reason.length > 0 ? `: ${reason}` : '';
    for (const pending of inFlight) {
      pending.reject(
        new TransportError(
          `Connection of the producer of ${this.#full} closed (code ${code}${why}) before the broker confirmed the message; it may or may not be stored`,
          { context: { topic: this.#full, code } },
        ),
      );
    }
    if (this.#queue.length > 0) this.#ensureConnection();
  }

  /** Reject sends past their deadline; one timer per producer, running only while sends are pending. */
  #watchTimeouts(): void {
    if (this.#timeoutTimer !== undefined) return;
    const every = Math.max(10, Math.min(1000, Math.floor(this.#options.sendTimeoutMs / 4)));
    this.#timeoutTimer = setInterval(() => {
      const now = performance.now();
      const expired = (p: PendingSend): boolean => p.deadline <= now;
      const timeout = (p: PendingSend): void =>
        p.reject(
          new TransportError(`Send to ${this.#full} not confirmed within ${this.#options.sendTimeoutMs} ms`, {
            context: { topic: this.#full },
          }),
        );
      for (const p of this.#inFlight.values()) {
        if (!expired(p)) break; // insertion order is deadline order
        this.#inFlight.delete(p.context);
        timeout(p);
      }
      while (this.#queue.length > 0 && expired(this.#queue.peek() as PendingSend)) timeout(this.#queue.shift() as PendingSend);
      if (this.#inFlight.size === 0 && this.#queue.length === 0) {
        clearInterval(this.#timeoutTimer);
        this.#timeoutTimer = undefined;
      }
    }, every);
    this.#timeoutTimer.unref?.();
  }
}
