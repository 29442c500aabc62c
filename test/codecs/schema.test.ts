import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createExclusiveConsumer,
  createProducer,
  DeadLetterProperties,
  defaultDeadLetterTopic,
  isConfigurationError,
  isDecodeError,
  isSchemaValidationError,
  schemaCodec,
  stringCodec,
  type MessageMeta,
  type StandardSchemaV1,
} from '../../src/index.js';
import { drained, publishRaw, resourcesPerTest, waitFor } from '../helpers/index.js';

const encoder = new TextEncoder();
const meta = { id: 'm-1' } as MessageMeta;

const Shopper = z.object({ shopperId: z.string(), n: z.number().int() });

/** A Standard Schema written by hand: a non-empty string, upper-cased (a transform). */
const upperName: StandardSchemaV1<string, string> = {
  '~standard': {
    version: 1,
    vendor: 'by-hand',
    validate(value) {
      return typeof value === 'string' && value.length > 0
        ? { value: value.toUpperCase() }
        : { issues: [{ message: 'expected a non-empty string' }] };
    },
  },
};

describe('schemaCodec', () => {
  it('decodes what fits the schema (zod) and gives the handler the schema output', () => {
    const codec = schemaCodec(Shopper);
    expect(codec.decode(encoder.encode('{"shopperId":"s-1","n":3,"extra":true}'), meta)).toEqual({ shopperId: 's-1', n: 3 });
    expect(codec.name).toBe('json+zod');
  });

  it('refuses on decode what does not fit, naming each issue with its path', () => {
    const codec = schemaCodec(Shopper);
    let thrown: unknown;
    try {
      codec.decode(encoder.encode('{"shopperId":7,"n":1.5}'), meta);
    } catch (error) {
      thrown = error;
    }
    expect(isSchemaValidationError(thrown)).toBe(true);
    const error = thrown as Error & { issues: readonly { path: readonly PropertyKey[] }[] };
    expect(error.issues.map((i) => i.path)).toEqual([['shopperId'], ['n']]);
    expect(error.message).toMatch(/^Schema \(zod\) rejected the value to decode, 2 issues: shopperId: .+; n: .+/);
  });

  it('refuses on encode what does not fit, and encodes with the inner codec what does', () => {
    const codec = schemaCodec(Shopper);
    expect(() => codec.encode({ shopperId: 's-1', n: 'x' } as never)).toThrow(/rejected the value to encode, 1 issue: n: /);
    expect(new TextDecoder().decode(codec.encode({ shopperId: 's-1', n: 2 }))).toBe('{"shopperId":"s-1","n":2}');
  });

  it('takes a hand-written Standard Schema and an inner codec; encodes the value it was given', () => {
    const codec = schemaCodec(upperName, stringCodec());
    expect(codec.name).toBe('string+by-hand');
    expect(codec.decode(encoder.encode('ada'), meta)).toBe('ADA');
    expect(new TextDecoder().decode(codec.encode('ada'))).toBe('ada');
    expect(() => codec.decode(encoder.encode(''), meta)).toThrow('rejected the value to decode, 1 issue: expected a non-empty string');
  });

  it('formats nested paths, path segments and many issues', () => {
    const many: StandardSchemaV1 = {
      '~standard': {
        version: 1,
        vendor: 'v',
        validate: () => ({
          issues: [
            { message: 'a', path: ['items', 0, { key: 'sku' }] },
            ...Array.from({ length: 11 }, (_, i) => ({ message: `m${i}` })),
          ],
        }),
      },
    };
    expect(() => schemaCodec(many).encode({})).toThrow(/12 issues: items\[0\]\.sku: a; m0; .*m8; and 2 more$/);
  });

  it('is a ConfigurationError at creation for what is not a Standard Schema v1', () => {
    for (const bad of [undefined, {}, { '~standard': { version: 2, validate: () => ({ value: 1 }) } }, { '~standard': { version: 1 } }]) {
      expect(() => schemaCodec(bad as never)).toThrow(expect.objectContaining({ code: 'EC_CONFIGURATION' }));
    }
    expect(() => schemaCodec(upperName, {} as never)).toThrow(/`inner\.decode`/);
  });

  it('refuses a schema that validates asynchronously with a ConfigurationError, on decode and on encode', async () => {
    const slow = z.string().refine(async () => true);
    const codec = schemaCodec(slow, stringCodec());
    expect(() => codec.decode(encoder.encode('x'), meta)).toThrow(expect.objectContaining({ code: 'EC_CONFIGURATION' }));
    expect(() => codec.encode('x')).toThrow(/validates synchronously; the zod schema returned a Promise/);
    // No unhandled rejection from the Promise nobody awaits.
    const rejecting: StandardSchemaV1 = { '~standard': { version: 1, vendor: 'v', validate: () => Promise.reject(new Error('late')) } };
    expect(() => schemaCodec(rejecting).encode(1)).toThrow(expect.objectContaining({ code: 'EC_CONFIGURATION' }));
    await new Promise((resolve) => setTimeout(resolve, 10));
  });
});

describe('schemaCodec in a consumer and a producer', () => {
  const { consumers, setup } = resourcesPerTest();

  it('dead-letters a payload that does not fit, with the reason, and handles every other one', async () => {
    const { broker, topic } = setup('schema');
    const seen: number[] = [];
    const deadLettered: unknown[] = [];
    const c = createExclusiveConsumer(topic, (e) => e.shopperId, (e) => void seen.push(e.n), {
      transport: broker.transport(),
      initialPosition: 'earliest',
      codec: schemaCodec(Shopper),
      privacy: { errorMessages: true },
    });
    c.on('message.dead-lettered', ({ error }) => deadLettered.push(error));
    consumers.push(c);
    await c.start();
    publishRaw(broker, topic, '{"shopperId":"s-1","n":1}', 's-1');
    const bad = publishRaw(broker, topic, '{"shopperId":"s-1","n":"two"}', 's-1');
    publishRaw(broker, topic, '{"shopperId":"s-1","n":3}', 's-1');
    publishRaw(broker, topic, '{"shopperId":"s-2","n":4}', 's-2');
    await drained(broker, topic);
    expect(seen.sort()).toEqual([1, 3, 4]);
    expect(c.stats().deadLettered).toBe(1);
    expect(isDecodeError(deadLettered[0])).toBe(true);
    expect(isSchemaValidationError((deadLettered[0] as Error).cause)).toBe(true);
    const [letter, ...others] = broker.peek(defaultDeadLetterTopic(topic, 'exclusive-consumer'));
    expect(others).toEqual([]);
    expect(letter?.properties[DeadLetterProperties.originMessageId]).toBe(bad);
    expect(letter?.properties[DeadLetterProperties.code]).toBe('EC_DECODE');
    expect(letter?.properties[DeadLetterProperties.reason]).toMatch(
      new RegExp(`^Codec "json\\+zod" could not decode message ${bad}: Schema \\(zod\\) rejected the value to decode, 1 issue: n: `),
    );
  });

  it('keeps the issues out of the dead letter under the default privacy', async () => {
    const { broker, topic } = setup('schema-private');
    const c = createExclusiveConsumer(topic, (e) => e.shopperId, () => undefined, {
      transport: broker.transport(),
      initialPosition: 'earliest',
      codec: schemaCodec(Shopper),
    });
    consumers.push(c);
    await c.start();
    publishRaw(broker, topic, '{"shopperId":"s-1","n":"secret-value"}', 's-1');
    await drained(broker, topic);
    const [letter] = broker.peek(defaultDeadLetterTopic(topic, 'exclusive-consumer'));
    expect(letter?.properties[DeadLetterProperties.reason]).toBe('DecodeError');
  });

  it('with an async schema releases the message and reports the ConfigurationError instead of dead-lettering', async () => {
    const { broker, topic } = setup('schema-async');
    const errors: { error: Error; phase: string }[] = [];
    const c = createExclusiveConsumer(topic, (e: string) => e, () => undefined, {
      transport: broker.transport(),
      initialPosition: 'earliest',
      codec: schemaCodec(z.string().refine(async () => true), stringCodec()),
    });
    c.on('error', (e) => void errors.push(e));
    consumers.push(c);
    await c.start();
    publishRaw(broker, topic, 'a', 'a');
    await waitFor('the error reported', () => errors.length > 0 && c.stats().released > 0);
    expect(errors[0]?.phase).toBe('decode');
    expect(isConfigurationError(errors[0]?.error)).toBe(true);
    expect(c.stats().deadLettered).toBe(0);
    expect(broker.peek(defaultDeadLetterTopic(topic, 'exclusive-consumer'))).toEqual([]);
  });

  it('makes producer.send reject with a SchemaValidationError and publish nothing', async () => {
    const { broker, topic } = setup('schema-send');
    const producer = createProducer({ topic, key: (e: z.infer<typeof Shopper>) => e.shopperId, transport: broker.transport(), codec: schemaCodec(Shopper) });
    await expect(producer.send({ shopperId: 's-1', n: 0.5 })).rejects.toSatisfy(isSchemaValidationError);
    await producer.send({ shopperId: 's-1', n: 1 });
    await producer.close();
    expect(broker.peek(topic).map((m) => new TextDecoder().decode(m.data))).toEqual(['{"shopperId":"s-1","n":1}']);
  });
});
