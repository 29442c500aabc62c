import { describe, expect, it } from 'vitest';
import {
  compose,
  consoleLogger,
  createExclusiveConsumer,
  createProducer,
  isConfigurationError,
  isMiddlewareError,
  type HandlerContext,
} from '../src/index.js';

const configurationError = (option: string) => (error: unknown): boolean =>
  isConfigurationError(error) && (error as { context: { option?: unknown } }).context.option === option;

describe('argument and option validation', () => {
  it('a topic is required by the consumer and the producer, at creation', () => {
    expect(() => createExclusiveConsumer(undefined as unknown as string, () => 'k', () => undefined)).toThrowError(
      expect.objectContaining({ code: 'EC_CONFIGURATION' }),
    );
    let thrown: unknown;
    try {
      createProducer({ key: () => 'k' } as unknown as Parameters<typeof createProducer>[0]);
    } catch (error) {
      thrown = error;
    }
    expect(configurationError('topic')(thrown)).toBe(true);
  });

  it('consoleLogger rejects an unknown level or format with a ConfigurationError', () => {
    expect(() => consoleLogger({ level: 'loud' as never })).toThrowError(/level/);
    for (const options of [{ level: 'loud' }, { format: 'xml' }]) {
      let thrown: unknown;
      try {
        consoleLogger(options as never);
      } catch (error) {
        thrown = error;
      }
      expect(configurationError(Object.keys(options)[0] as string)(thrown)).toBe(true);
    }
  });

  it('a middleware calling next() twice gets a MiddlewareError', async () => {
    const twice = compose<unknown>(
      [
        async function twice(_ctx, next) {
          await next();
          await next();
        },
      ],
      async () => undefined,
    );
    const rejection = await twice({} as HandlerContext).catch((error: unknown) => error);
    expect(isMiddlewareError(rejection)).toBe(true);
    expect((rejection as { retriable: boolean }).retriable).toBe(false);
  });
});
