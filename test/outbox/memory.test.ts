/**
 * The memory outbox against the contracts every outbox and fenced store pass, and `commitDecision`,
 * the handler's one line, on it: read, decide, commit under the fence, with derived idempotency keys.
 */
import { describe, expect, it } from 'vitest';
import {
  MemoryOutbox,
  commitDecision,
  effectIdempotencyKey,
  isNonRetriableError,
  isStaleTokenError,
  type DecisionContext,
} from '../../src/index.js';
import { fencedStoreContract, outboxContract, registerContract, uniqueName } from '../../src/testing/index.js';

const registrar = { describe, it };
registerContract('MemoryOutbox', outboxContract((options) => new MemoryOutbox(options)), registrar);
registerContract('MemoryOutbox as a fenced store', fencedStoreContract(() => new MemoryOutbox()), registrar);

interface Cart {
  readonly items: number;
  readonly seen: readonly string[];
}

function context(key: string, messageId: string, token: number, owner = 'consumer-1'): DecisionContext {
  return { key, fence: { token, owner }, message: { id: messageId } };
}

describe('commitDecision', () => {
  it('commits the decided state and effects with keys derived from the key, the message and the index', async () => {
    const outbox = new MemoryOutbox<Cart, { text: string }>();
    const key = uniqueName('shopper');
    const result = await commitDecision(outbox, context(key, 'm-1', 3), (cart) => ({
      value: { items: (cart?.items ?? 0) + 1, seen: ['m-1'] },
      effects: [{ payload: { text: 'sms' } }, { payload: { text: 'email' } }],
    }));
    expect(result.record).toEqual({ value: { items: 1, seen: ['m-1'] }, token: 3, owner: 'consumer-1', version: 1 });
    expect(result.effects).toEqual([
      { idempotencyKey: effectIdempotencyKey(key, 'm-1', 0), created: true },
      { idempotencyKey: effectIdempotencyKey(key, 'm-1', 1), created: true },
    ]);
  });

  it('the same event decided again after a redelivery creates no second effect', async () => {
    const outbox = new MemoryOutbox<Cart, string>();
    const key = uniqueName('shopper');
    // A decision that forgets it already decided (the state does not remember the event).
    const decide = (cart: Cart | undefined) => ({ value: { items: (cart?.items ?? 0) + 1, seen: [] }, effects: [{ payload: 'sms' }] });
    await commitDecision(outbox, context(key, 'm-1', 1, 'first'), decide);
    const redo = await commitDecision(outbox, context(key, 'm-1', 2, 'second'), decide);
    expect(redo.effects[0]?.created).toBe(false);
    expect(await outbox.counts()).toEqual({ pending: 1, done: 0, dead: 0 });
    expect((await outbox.effect(effectIdempotencyKey(key, 'm-1', 0)))?.owner).toBe('first');
  });

  it('starts over on a version conflict and decides from the state that won', async () => {
    const outbox = new MemoryOutbox<Cart, string>();
    const key = uniqueName('shopper');
    const ctx = context(key, 'm-1', 1);
    let calls = 0;
    const result = await commitDecision(outbox, ctx, async (cart) => {
      calls += 1;
      // Another write of the same owner lands between this read and its commit, once.
      if (calls === 1) await outbox.put(key, { items: 10, seen: [] }, ctx.fence!);
      return { value: { items: (cart?.items ?? 0) + 1, seen: ['m-1'] }, effects: [{ payload: `items ${(cart?.items ?? 0) + 1}` }] };
    });
    expect(calls).toBe(2);
    expect(result.record.value.items).toBe(11);
    const effect = await outbox.effect(result.effects[0]!.idempotencyKey);
    expect(effect?.payload, 'only the winning decision is committed').toBe('items 11');
    expect(await outbox.counts()).toEqual({ pending: 1, done: 0, dead: 0 });
  });

  it('a stale run commits nothing and gets the StaleTokenError at once', async () => {
    const outbox = new MemoryOutbox<Cart, string>();
    const key = uniqueName('shopper');
    await commitDecision(outbox, context(key, 'm-1', 8, 'new-owner'), () => ({ value: { items: 1, seen: [] }, effects: [{ payload: 'new' }] }));
    let calls = 0;
    const error = await commitDecision(outbox, context(key, 'm-2', 7, 'paused-owner'), () => {
      calls += 1;
      return { value: { items: 99, seen: [] }, effects: [{ payload: 'stale' }] };
    }).catch((e: unknown) => e);
    expect(isStaleTokenError(error)).toBe(true);
    expect(error).toMatchObject({ token: 7, currentToken: 8 });
    expect(calls).toBe(1);
    expect(await outbox.effect(effectIdempotencyKey(key, 'm-2', 0))).toBeUndefined();
    expect(outbox.rejected).toBe(1);
  });

  it('refuses a run without a fence, without retries', async () => {
    const outbox = new MemoryOutbox();
    const error = await commitDecision(outbox, { key: 'k', fence: undefined, message: { id: 'm' } }, () => ({ value: 1 })).catch((e: unknown) => e);
    expect(isNonRetriableError(error)).toBe(true);
    expect(await outbox.counts()).toEqual({ pending: 0, done: 0, dead: 0 });
  });
});

describe('effectIdempotencyKey', () => {
  it('is stable, 32 hex digits, and keeps apart inputs that concatenate alike', () => {
    expect(effectIdempotencyKey('a', 'm', 0)).toBe(effectIdempotencyKey('a', 'm', 0));
    expect(effectIdempotencyKey('a', 'm', 0)).toMatch(/^[0-9a-f]{32}$/);
    expect(effectIdempotencyKey('a:b', 'c', 0)).not.toBe(effectIdempotencyKey('a', 'b:c', 0));
    expect(effectIdempotencyKey('a', 'm', 0)).not.toBe(effectIdempotencyKey('a', 'm', 1));
  });
});
