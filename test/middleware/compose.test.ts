import { describe, expect, it } from 'vitest';
import { compose, type HandlerContext, type Middleware } from '../../src/index.js';

const ctx = {} as HandlerContext<unknown>;

describe('compose', () => {
  it('runs middleware outermost first around the last step', async () => {
    const log: string[] = [];
    const mw =
      (name: string): Middleware =>
      async (_ctx, next) => {
        log.push(`${name}>`);
        await next();
        log.push(`<${name}`);
      };
    await compose([mw('a'), mw('b')], async () => void log.push('handler'))(ctx);
    expect(log).toEqual(['a>', 'b>', 'handler', '<b', '<a']);
  });

  it('rejects when a middleware calls next() twice', async () => {
    const twice: Middleware = async function twice(_ctx, next) {
      await next();
      await next();
    };
    let runs = 0;
    await expect(compose([twice], async () => void (runs += 1))(ctx)).rejects.toThrow(
      'Middleware "twice" called next() more than once',
    );
    expect(runs).toBe(1);
  });

  it('propagates errors thrown synchronously or asynchronously', async () => {
    const sync: Middleware = () => {
      throw new Error('sync');
    };
    await expect(compose([sync], async () => undefined)(ctx)).rejects.toThrow('sync');
    await expect(compose([], async () => Promise.reject(new Error('async')))(ctx)).rejects.toThrow('async');
  });
});
