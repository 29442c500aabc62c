import type { StandardSchemaV1 as OfficialSchema } from '@standard-schema/spec';
import { expectTypeOf, test } from 'vitest';
import { z } from 'zod';
import { schemaCodec, type Codec, type StandardSchemaV1 } from '../../src/index.js';

test('any schema of the official Standard Schema types fits schemaCodec', () => {
  expectTypeOf<OfficialSchema<{ a: number }>>().toExtend<StandardSchemaV1<{ a: number }>>();
});

test('the codec yields the schema output', () => {
  const codec = schemaCodec(z.object({ a: z.number(), b: z.string().transform((s) => s.length) }));
  expectTypeOf(codec).toEqualTypeOf<Codec<{ a: number; b: number }>>();
});
