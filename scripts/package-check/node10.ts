// Compiled by scripts/check-package.mjs against the packed tarball with `module: commonjs` and
// `moduleResolution: node10`, which ignore the exports map: every entry point's types must still
// resolve (through typesVersions), and resolve to real types, not `any`.
import { createExclusiveConsumer, schemaCodec, type Codec, type ExclusiveConsumer } from 'exclusive-consumer';
import { holdLease, type Lease } from 'exclusive-consumer/adapters';
import { lockContract, type LockContractOptions } from 'exclusive-consumer/testing';
import { redisLock, type RedisLike } from 'exclusive-consumer/redis';
import { postgresFencedStore, type PgPoolLike } from 'exclusive-consumer/postgres';
import { tracing, type TracingOptions } from 'exclusive-consumer/otel';
import { pulsarAdmin, type PulsarTopicName } from 'exclusive-consumer/pulsar';

/** `true` unless `T` is `any`: a constraint that fails the compile when a type did not resolve. */
type Typed<T> = 0 extends 1 & T ? false : true;
type Expect<T extends true> = T;

export type Checks = [
  Expect<Typed<typeof createExclusiveConsumer>>,
  Expect<Typed<typeof schemaCodec>>,
  Expect<Typed<Codec<string>>>,
  Expect<Typed<ExclusiveConsumer>>,
  Expect<Typed<typeof holdLease>>,
  Expect<Typed<Lease>>,
  Expect<Typed<typeof lockContract>>,
  Expect<Typed<LockContractOptions>>,
  Expect<Typed<typeof redisLock>>,
  Expect<Typed<RedisLike>>,
  Expect<Typed<typeof postgresFencedStore>>,
  Expect<Typed<PgPoolLike>>,
  Expect<Typed<typeof tracing>>,
  Expect<Typed<TracingOptions>>,
  Expect<Typed<typeof pulsarAdmin>>,
  Expect<Typed<PulsarTopicName>>,
];
