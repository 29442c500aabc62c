import { describe, expectTypeOf, it } from 'vitest';
import {
  MemoryFencedStore,
  MemoryLock,
  createExclusiveConsumer,
  updateFenced,
  type Fence,
  type FencingTokenSource,
  type UpdateFencedOptions,
} from '../../src/index.js';

interface ShopperEvent {
  readonly shopperId: string;
}

describe('handler context types follow the options', () => {
  it('with a lock or a token source, ctx.fence is a Fence and updateFenced takes it as is', () => {
    const store = new MemoryFencedStore<number>();
    createExclusiveConsumer<ShopperEvent>(
      't',
      (e) => e.shopperId,
      async (_e, ctx) => {
        expectTypeOf(ctx.fence).toEqualTypeOf<Fence>();
        expectTypeOf(ctx.fencingToken).toEqualTypeOf<number>();
        await updateFenced(store, ctx.key, ctx.fence, (n) => (n ?? 0) + 1);
      },
      { mode: 'shared-locked', lock: new MemoryLock() },
    );
    const tokens: FencingTokenSource = { nextToken: async () => 1 };
    createExclusiveConsumer<ShopperEvent>('t', (e) => e.shopperId, (_e, ctx) => {
      expectTypeOf(ctx.fence).toEqualTypeOf<Fence>();
    }, {
      tokenSource: tokens,
    });
  });

  it('without one, ctx.fence may be undefined', () => {
    createExclusiveConsumer<ShopperEvent>('t', (e) => e.shopperId, (_e, ctx) => {
      expectTypeOf(ctx.fence).toEqualTypeOf<Fence | undefined>();
    });
    createExclusiveConsumer<ShopperEvent>('t', (e) => e.shopperId, (_e, ctx) => {
      expectTypeOf(ctx.fence).toEqualTypeOf<Fence | undefined>();
    }, {
      maxConcurrency: 5,
    });
  });

  it('exports UpdateFencedOptions', () => {
    expectTypeOf<UpdateFencedOptions>().toEqualTypeOf<{ readonly maxAttempts?: number }>();
  });
});
