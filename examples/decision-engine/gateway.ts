/**
 * The SMS gateway of the demo, and the dispatch of the outbox to it with a fault phase.
 *
 * The gateway deduplicates by idempotency key, as real ones do: a shopper gets one message per key,
 * however many times it was sent. It records every call, so that the run can count what shoppers
 * received (distinct keys) apart from what was sent (calls).
 *
 * The fault phase, halfway through the publishing: the first dispatcher dies with sends in flight
 * that the gateway had already accepted (their completion never recorded, as after `kill -9`), and
 * the gateway refuses the first attempt of one message in 25 (`503`). A second dispatcher takes
 * over: it gets the dead one's claims back once their visibility timeout passes, sends them again
 * under the same keys, and retries the refused ones with backoff.
 */
import { createHash } from 'node:crypto';
import { createOutboxDispatcher, type ClaimedEffect, type OutboxDispatcher, type Outbox } from '../../src/index.js';
import type { Send, ShopperState } from './decision.js';

/** One call to the gateway. */
export interface GatewayCall {
  readonly idempotencyKey: string;
  readonly shopperId: string;
  readonly sender: string;
  readonly accepted: boolean;
}

/** A gateway that deduplicates by idempotency key and records every call. */
export class Gateway {
  readonly calls: GatewayCall[] = [];
  readonly #delivered = new Set<string>();

  /** Accept `message` under `idempotencyKey`; a key seen before is accepted and not delivered again. */
  accept(idempotencyKey: string, message: Send, sender: string): void {
    this.calls.push({ idempotencyKey, shopperId: message.shopperId, sender, accepted: true });
    this.#delivered.add(idempotencyKey);
  }

  /** Record a refused call (`503`). */
  refuse(idempotencyKey: string, message: Send, sender: string): void {
    this.calls.push({ idempotencyKey, shopperId: message.shopperId, sender, accepted: false });
  }

  /** Messages each shopper received: distinct idempotency keys accepted. */
  receivedByShopper(): Map<string, number> {
    const keysByShopper = new Map<string, Set<string>>();
    for (const call of this.calls) {
      if (!call.accepted) continue;
      const keys = keysByShopper.get(call.shopperId) ?? new Set<string>();
      keys.add(call.idempotencyKey);
      keysByShopper.set(call.shopperId, keys);
    }
    return new Map([...keysByShopper].map(([shopper, keys]) => [shopper, keys.size]));
  }

  /** Accepted calls beyond the first of their key: the repeats the gateway deduplicated. */
  get repeats(): number {
    return this.calls.filter((c) => c.accepted).length - this.#delivered.size;
  }
}

/** One in this many messages is refused on its first attempt. */
const REFUSE_ONE_IN = 25;
/** Sends the dying dispatcher leaves in flight. */
const IN_FLIGHT_AT_CRASH = 5;
/** Claims of the dead dispatcher come back after this long. */
const VISIBILITY_MS = 300;

function refusedFirst(idempotencyKey: string): boolean {
  return createHash('sha1').update(idempotencyKey).digest().readUInt32BE(0) % REFUSE_ONE_IN === 0;
}

/** What the dispatch of one row came to. */
export interface DispatchReport {
  /** Sends the first dispatcher had in flight when it died (the gateway had accepted them). */
  readonly inFlightAtCrash: number;
  readonly refused: number;
  readonly retried: number;
  readonly deadLettered: number;
}

/** The dispatch of one row's outbox to `gateway`, with the fault phase on `crash()`. */
export class Dispatch {
  readonly #outbox: Outbox<ShopperState, Send>;
  readonly #gateway: Gateway;
  readonly #dispatchers: OutboxDispatcher<Send>[] = [];
  #dying = 0;
  #inFlightAtCrash = 0;
  #refused = 0;

  constructor(outbox: Outbox<ShopperState, Send>, gateway: Gateway) {
    this.#outbox = outbox;
    this.#gateway = gateway;
    this.#start('dispatcher-1');
  }

  /** The first dispatcher dies with sends in flight; a second one takes over. */
  async crash(): Promise<void> {
    this.#dying = IN_FLIGHT_AT_CRASH;
    const [first] = this.#dispatchers;
    // Dies once its next sends reached the gateway (or soon, if the outbox is quiet).
    const deadline = performance.now() + 200;
    while (this.#dying > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    this.#dying = 0;
    // No waiting, and its hung sends never settle: nothing records them, as after kill -9.
    await first?.stop({ timeoutMs: 0 });
    this.#start('dispatcher-2');
  }

  /** Wait until every committed message was sent (or dead-lettered), then stop. */
  async finish(timeoutMs: number): Promise<DispatchReport> {
    const deadline = performance.now() + timeoutMs;
    while ((await this.#outbox.counts()).pending > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(this.#dispatchers.map((d) => d.stop({ timeoutMs: 1_000 })));
    const stats = this.#dispatchers.map((d) => d.stats());
    return {
      inFlightAtCrash: this.#inFlightAtCrash,
      refused: this.#refused,
      retried: stats.reduce((n, s) => n + s.retried, 0),
      deadLettered: stats.reduce((n, s) => n + s.deadLettered, 0),
    };
  }

  #start(name: string): void {
    const send = async (effect: ClaimedEffect<Send>): Promise<void> => {
      if (name === 'dispatcher-1' && this.#dying > 0) {
        this.#dying -= 1;
        this.#inFlightAtCrash += 1;
        this.#gateway.accept(effect.idempotencyKey, effect.payload, name);
        // The gateway took it; the process dies before the send returns.
        return new Promise<void>(() => undefined);
      }
      if (effect.attempt === 1 && refusedFirst(effect.idempotencyKey)) {
        this.#refused += 1;
        this.#gateway.refuse(effect.idempotencyKey, effect.payload, name);
        throw new Error('gateway 503');
      }
      this.#gateway.accept(effect.idempotencyKey, effect.payload, name);
    };
    const dispatcher = createOutboxDispatcher(this.#outbox, send, {
      concurrency: 20,
      visibilityMs: VISIBILITY_MS,
      sendTimeoutMs: 0,
      pollIntervalMs: 5,
      retry: { initialDelayMs: 10, maxDelayMs: 100 },
    });
    this.#dispatchers.push(dispatcher);
    dispatcher.start();
  }
}
