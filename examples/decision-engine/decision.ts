/**
 * The decision engine: "should we send this shopper a message now?" — at most one message per
 * shopper per run, so any second send is a duplicate (the split brain of the article).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { commitDecision, isStaleTokenError, type HandlerContext, type MemoryLock, type Outbox } from '../../src/index.js';
import { SEND_THRESHOLD, WEIGHT, type ShopperEvent } from './workload.js';

/** What the engine knows about a shopper. */
export interface ShopperState {
  readonly score: number;
  /** Events already applied: a redelivered event changes nothing (idempotence). */
  readonly seen: readonly string[];
  readonly messaged: boolean;
}

const EMPTY: ShopperState = { score: 0, seen: [], messaged: false };

/** The rule: pure, so that `commitDecision` may run it again after a version conflict. */
export function decide(
  current: ShopperState | undefined,
  event: ShopperEvent,
): { readonly next: ShopperState; readonly send: boolean } {
  const state = current ?? EMPTY;
  if (state.seen.includes(event.eventId)) return { next: state, send: false };
  const score = state.score + WEIGHT[event.type];
  const send = !state.messaged && score >= SEND_THRESHOLD;
  return { next: { score, seen: [...state.seen, event.eventId], messaged: state.messaged || send }, send };
}

/** A message for the SMS/e-mail gateway: the effect a decision commits to the outbox. */
export interface Send {
  readonly shopperId: string;
  readonly eventId: string;
  /** The consumer whose run decided it, and its fencing token. */
  readonly consumer: string;
  readonly token: number | undefined;
}

/** A state store without fencing, as a service without this library would use. */
export class PlainStore {
  readonly #map = new Map<string, ShopperState>();

  async get(key: string): Promise<ShopperState | undefined> {
    return this.#map.get(key);
  }

  async put(key: string, value: ShopperState): Promise<void> {
    this.#map.set(key, value);
  }

  entries(): IterableIterator<[string, ShopperState]> {
    return this.#map.entries();
  }
}

/** What the handler tells the run's bookkeeping. */
export interface DecisionHooks {
  started(event: ShopperEvent, at: number): void;
  /** The event's decision was written (or, naive mode, made). */
  decided(event: ShopperEvent, at: number): void;
  /** The event's write was fenced off: another consumer owns the shopper; the library gives the event back. */
  fencedOff(event: ShopperEvent, at: number): void;
  /**
   * A message was decided. `direct` (naive mode): the handler's write is done and the caller sends
   * it now, as a service without an outbox would. `outbox` (fenced mode): it was committed to the
   * outbox with the decision; a dispatcher sends it.
   */
  send(send: Send, via: 'direct' | 'outbox'): void;
}

export interface DecisionEngineOptions {
  /**
   * `naive`: read, think, write without a fence, then call the gateway. `fenced`: `commitDecision`
   * with `ctx.fence`: the state and the message to send commit together to the outbox, which a
   * dispatcher sends from.
   */
  readonly writes: 'naive' | 'fenced';
  readonly plain: PlainStore;
  readonly outbox: Outbox<ShopperState, Send>;
  /** In `shared-locked` mode: a stall expires the shopper's lease, as a pause past the TTL would. */
  readonly lock: MemoryLock | undefined;
  readonly slowShopper: string;
  readonly slowEventMs: number;
  readonly stalledShoppers: ReadonlySet<string>;
  readonly stallMs: number;
  readonly hooks: DecisionHooks;
}

/** The handler given to `createExclusiveConsumer`. */
export function decisionEngine(
  o: DecisionEngineOptions,
): (event: ShopperEvent, ctx: HandlerContext<ShopperEvent>) => Promise<void> {
  const stalled = new Set<string>(); // a stalled shopper stalls once: on the first run of its events
  /** Thinking time; the stall sits between reading the state and writing the decision. */
  const think = async (event: ShopperEvent): Promise<void> => {
    if (event.shopperId === o.slowShopper) {
      await sleep(o.slowEventMs);
      return;
    }
    if (o.stalledShoppers.has(event.shopperId) && !stalled.has(event.shopperId)) {
      stalled.add(event.shopperId);
      // A GC pause longer than the lease: the lock forgets us while we are frozen.
      o.lock?.expire(event.shopperId);
      await sleep(o.stallMs);
      return;
    }
    await sleep(Math.random() * 3);
  };

  return async function decisionEngine(event, ctx) {
    o.hooks.started(event, performance.now());
    if (o.writes === 'naive') {
      const current = await o.plain.get(event.shopperId);
      await think(event);
      const decision = decide(current, event);
      await o.plain.put(event.shopperId, decision.next);
      if (decision.send) {
        o.hooks.send({ shopperId: event.shopperId, eventId: event.eventId, consumer: ctx.consumer.consumerName, token: undefined }, 'direct');
      }
      o.hooks.decided(event, performance.now());
      return;
    }
    if (ctx.fence === undefined) throw new Error('fenced writes need ctx.fence: configure a tokenSource or a lock');
    let queued: Send | undefined;
    try {
      // The decision and the message it decided commit together, under the fence: a stale run
      // commits neither, so it sends nothing. The message's idempotency key comes from the shopper
      // and the message id, so a redelivered event decided again cannot queue a second one.
      await commitDecision(o.outbox, ctx, async (current) => {
        await think(event);
        const decision = decide(current, event);
        const message: Send = { shopperId: event.shopperId, eventId: event.eventId, consumer: ctx.consumer.consumerName, token: ctx.fencingToken };
        queued = decision.send ? message : undefined;
        return { value: decision.next, effects: queued === undefined ? [] : [{ payload: queued }] };
      });
    } catch (error) {
      if (!isStaleTokenError(error)) throw error;
      // A newer owner of this shopper committed first: our decision must not happen. Rethrowing tells
      // the library this consumer lost the shopper: it gives the shopper's messages back to the
      // broker (the new owner, or this consumer under a new lease, runs them) instead of retrying.
      o.hooks.fencedOff(event, performance.now());
      throw error;
    }
    if (queued !== undefined) o.hooks.send(queued, 'outbox');
    o.hooks.decided(event, performance.now());
  };
}
