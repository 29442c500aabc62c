import assert from 'node:assert/strict';
import { isStaleTokenError } from '../errors/stale-token-error.js';
import type { Fence } from '../fencing/types.js';
import { effectIdempotencyKey } from '../outbox/effects.js';
import type { ClaimedEffect, CommitOptions, EffectInput, Outbox, OutboxOptions } from '../outbox/types.js';
import { assertStale, assertVersionConflict, describeCall, expectRejection, expectResult, type Call } from './calls.js';
import { sleep, uniqueName, type ContractCase } from './contract.js';

/** Options of {@link outboxContract}. */
export interface OutboxContractOptions {
  /** Called after each case with the outbox it used (e.g. to delete its keys or table). */
  readonly cleanup?: (outbox: Outbox<unknown, unknown>) => Promise<void>;
}

type AnyOutbox = Outbox<unknown, unknown>;

/** `outbox.commit(…)`, named with its key, token, owner and options. */
function commit(
  outbox: AnyOutbox,
  key: string,
  value: unknown,
  fence: Fence,
  effects: readonly EffectInput<unknown>[],
  options?: CommitOptions,
): Call {
  const extra = [`${effects.length} effect${effects.length === 1 ? '' : 's'}`];
  if (options?.ifVersion !== undefined) extra.push(`ifVersion ${options.ifVersion}`);
  return { call: describeCall('commit', key, fence, ...extra), promise: outbox.commit(key, value, fence, effects, options) };
}

/** The name of a call on a claimed effect: `complete("k", token 1, owner "a", effect "k-fx", attempt 2)`. */
function effectCall(operation: string, effect: ClaimedEffect<unknown>): string {
  return describeCall(operation, effect.key, effect, `effect ${JSON.stringify(effect.idempotencyKey)}`, `attempt ${effect.attempt}`);
}

/** Claims until `predicate` holds for what was claimed, or `timeoutMs` passes. */
async function claimUntil(
  outbox: AnyOutbox,
  visibilityMs: number,
  predicate: (claimed: ClaimedEffect<unknown>[]) => boolean,
  timeoutMs = 5_000,
): Promise<ClaimedEffect<unknown>[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const claimed = await outbox.claim(100, visibilityMs);
    if (predicate(claimed)) return claimed;
    if (Date.now() > deadline) throw new assert.AssertionError({ message: `claims did not return the expected effects within ${timeoutMs} ms` });
    await sleep(20);
  }
}

const ids = (effects: readonly { idempotencyKey: string }[]): string[] => effects.map((e) => e.idempotencyKey).sort();

/**
 * The behaviour of an {@link Outbox}: a commit writes the key's state and its effects together, and
 * a stale or conflicting commit writes nothing at all; idempotency keys are derived stably and never
 * held twice; claims hand each due effect to one claimer for `visibilityMs`, then again; only a
 * claim's latest holder may retry or dead-letter it; dead letters are kept, listed and requeued; sent
 * effects are purged after `retainDoneMs`; headers captured at commit travel with the effects.
 *
 * `factory` gets the outbox options a case needs and must return an outbox that shares no effects
 * with any other (a fresh prefix, table or instance): claims see every effect of an outbox. Run the
 * fenced-store contract on it too, for `get` and `put`.
 *
 * ```ts
 * registerContract('my outbox', outboxContract((options) => myOutbox({ ...options, table: fresh() })), { describe, it });
 * ```
 */
export function outboxContract(
  factory: (options: OutboxOptions) => Outbox<unknown, unknown> | Promise<Outbox<unknown, unknown>>,
  options: OutboxContractOptions = {},
): ContractCase[] {
  const withOutbox =
    (run: (outbox: AnyOutbox, key: string) => Promise<void>, outboxOptions: OutboxOptions = {}) =>
    async (): Promise<void> => {
      const outbox = await factory(outboxOptions);
      try {
        await run(outbox, uniqueName('outbox'));
      } finally {
        await options.cleanup?.(outbox);
      }
    };
  const a: Fence = { token: 1, owner: 'a' };

  const cases: ContractCase[] = [
    {
      name: 'a commit writes the state and its effects together',
      run: withOutbox(async (outbox, key) => {
        const result = await outbox.commit(key, { n: 1 }, a, [{ payload: { to: '42', text: 'hi' }, idempotencyKey: `${key}-sms` }]);
        assert.deepEqual(result.record, { value: { n: 1 }, token: 1, owner: 'a', version: 1 });
        assert.deepEqual(result.effects, [{ idempotencyKey: `${key}-sms`, created: true }]);
        assert.deepEqual(await outbox.get(key), result.record);
        const effect = await outbox.effect(`${key}-sms`);
        assert.ok(effect !== undefined, 'the effect is stored');
        assert.deepEqual(
          { ...effect, createdAt: 0 },
          {
            idempotencyKey: `${key}-sms`,
            key,
            payload: { to: '42', text: 'hi' },
            token: 1,
            owner: 'a',
            headers: {},
            createdAt: 0,
            status: 'pending',
            attempts: 0,
            lastError: undefined,
          },
        );
        assert.ok(Math.abs(effect.createdAt - Date.now()) < 60_000, 'createdAt is epoch milliseconds');
        assert.deepEqual(await outbox.counts(), { pending: 1, done: 0, dead: 0 });
      }),
    },
    {
      name: 'a stale commit is rejected whole: no state, no effect',
      run: withOutbox(async (outbox, key) => {
        const kept = await outbox.commit(key, 'new', { token: 5, owner: 'b' }, [{ payload: 'b', idempotencyKey: `${key}-b` }]);
        await assertStale(commit(outbox, key, 'old', { token: 3, owner: 'a' }, [{ payload: 'a', idempotencyKey: `${key}-a` }]), 3, 5);
        await assertStale(commit(outbox, key, 'old', { token: 5, owner: 'a' }, [{ payload: 'a', idempotencyKey: `${key}-a2` }]), 5, 5);
        assert.deepEqual(await outbox.get(key), kept.record);
        assert.equal(await outbox.effect(`${key}-a`), undefined, 'the stale effect was never committed');
        assert.equal(await outbox.effect(`${key}-a2`), undefined, 'nor the equal-token one from another owner');
        assert.deepEqual(ids(await outbox.claim(10, 5_000)), [`${key}-b`]);
      }),
    },
    {
      name: 'a stale token is reported before a version conflict, and a conflicting commit writes nothing',
      run: withOutbox(async (outbox, key) => {
        await outbox.commit(key, 'x', { token: 5, owner: 'a' }, []);
        await assertStale(commit(outbox, key, 'y', { token: 3, owner: 'b' }, [{ payload: 1, idempotencyKey: `${key}-1` }], { ifVersion: 9 }), 3, 5);
        const conflicting = commit(outbox, key, 'y', { token: 5, owner: 'a' }, [{ payload: 1, idempotencyKey: `${key}-2` }], { ifVersion: 0 });
        await assertVersionConflict(conflicting);
        assert.equal((await outbox.get(key))?.value, 'x');
        assert.deepEqual(await outbox.counts(), { pending: 0, done: 0, dead: 0 });
        const next = await outbox.commit(key, 'z', { token: 5, owner: 'a' }, [{ payload: 1, idempotencyKey: `${key}-3` }], { ifVersion: 1 });
        assert.equal(next.record.version, 2);
      }),
    },
    {
      name: 'an idempotency key already held is not committed again, pending or sent',
      run: withOutbox(async (outbox, key) => {
        const id = `${key}-once`;
        await outbox.commit(key, 1, a, [{ payload: 'first', idempotencyKey: id }]);
        const again = await outbox.commit(key, 2, { token: 2, owner: 'b' }, [{ payload: 'second', idempotencyKey: id }]);
        assert.deepEqual(again.effects, [{ idempotencyKey: id, created: false }]);
        assert.equal(again.record.value, 2, 'the state is still written');
        const effect = await outbox.effect(id);
        assert.equal(effect?.payload, 'first', 'the first decision is kept');
        assert.equal(effect?.token, 1);
        const [claimed] = await outbox.claim(10, 5_000);
        assert.ok(claimed !== undefined);
        expectResult(effectCall('complete', claimed), await outbox.complete(claimed), true, 'the claim holds it');
        const afterSent = await outbox.commit(key, 3, { token: 2, owner: 'b' }, [{ payload: 'third', idempotencyKey: id }]);
        assert.deepEqual(afterSent.effects, [{ idempotencyKey: id, created: false }]);
        assert.equal((await outbox.effect(id))?.status, 'done');
        assert.deepEqual(await outbox.claim(10, 5_000), [], 'nothing is pending again');
      }),
    },
    {
      name: 'idempotency keys derive from key, messageId and index, the same for the same event decided again',
      run: withOutbox(async (outbox, key) => {
        const effects = [{ payload: 'sms' }, { payload: 'email' }];
        const first = await outbox.commit(key, 1, a, effects, { messageId: 'm-1' });
        const expected = [effectIdempotencyKey(key, 'm-1', 0), effectIdempotencyKey(key, 'm-1', 1)];
        assert.deepEqual(first.effects.map((e) => e.idempotencyKey), expected);
        assert.equal(new Set(expected).size, 2);
        assert.match(expected[0] as string, /^[0-9a-f]{32}$/);
        // The redelivered event, decided again by a newer owner.
        const redo = await outbox.commit(key, 1, { token: 2, owner: 'b' }, effects, { messageId: 'm-1' });
        assert.deepEqual(redo.effects, expected.map((idempotencyKey) => ({ idempotencyKey, created: false })));
        const other = await outbox.commit(key, 2, { token: 2, owner: 'b' }, [{ payload: 'sms' }], { messageId: 'm-2' });
        assert.equal(other.effects[0]?.created, true);
        assert.deepEqual(await outbox.counts(), { pending: 3, done: 0, dead: 0 });
      }),
    },
    {
      name: 'an invalid commit writes nothing: no key to derive, a repeated key, a payload JSON cannot hold',
      run: withOutbox(async (outbox, key) => {
        await outbox.commit(key, 'kept', a, []);
        const invalid: [Call, ErrorConstructor, string][] = [
          [commit(outbox, key, 'lost', a, [{ payload: 1 }]), TypeError, 'no idempotency key nor messageId'],
          [
            commit(outbox, key, 'lost', a, [{ payload: 1, idempotencyKey: 'same' }, { payload: 2, idempotencyKey: 'same' }]),
            RangeError,
            'a repeated idempotency key',
          ],
          [commit(outbox, key, 'lost', a, [{ payload: undefined, idempotencyKey: `${key}-u` }]), TypeError, 'an undefined payload'],
        ];
        for (const [{ call, promise }, type, why] of invalid) {
          await expectRejection(`${call} with ${why}`, promise, `a ${type.name}`, (error) => error instanceof type);
        }
        assert.equal((await outbox.get(key))?.value, 'kept');
        assert.equal((await outbox.get(key))?.version, 1);
        assert.deepEqual(await outbox.counts(), { pending: 0, done: 0, dead: 0 });
      }),
    },
    {
      name: 'a bad limit or visibility timeout is a RangeError, and claims nothing',
      run: withOutbox(async (outbox, key) => {
        await outbox.commit(key, 1, a, [{ payload: 1, idempotencyKey: `${key}-1` }]);
        const calls: [string, Promise<unknown>][] = [
          ['claim(0, 5000)', outbox.claim(0, 5_000)],
          ['claim(1.5, 5000)', outbox.claim(1.5, 5_000)],
          ['claim(10, 0)', outbox.claim(10, 0)],
          ['deadLetters(0)', outbox.deadLetters(0)],
          ['deadLetters(NaN)', outbox.deadLetters(Number.NaN)],
        ];
        for (const [call, promise] of calls) await expectRejection(call, promise, 'a RangeError', (error) => error instanceof RangeError);
        assert.deepEqual(await outbox.counts(), { pending: 1, done: 0, dead: 0 });
        assert.equal((await outbox.claim(10, 5_000)).length, 1, 'the effect is still claimable');
      }),
    },
    {
      name: 'claims hand out due effects oldest first, at most limit, once each within the visibility timeout',
      run: withOutbox(async (outbox, key) => {
        // One key: an outbox may keep its keys in shards, each claimed oldest first.
        for (let i = 0; i < 5; i++) {
          await outbox.commit(key, i, a, [{ payload: i, idempotencyKey: `${key}-fx-${i}` }]);
          // Distinct commit times, so "oldest first" has an order to check.
          await sleep(3);
        }
        const first = await outbox.claim(3, 10_000);
        assert.deepEqual(first.map((e) => e.payload), [0, 1, 2]);
        assert.ok(first.every((e) => e.attempt === 1), 'first claims are attempt 1');
        const second = await outbox.claim(10, 10_000);
        assert.deepEqual(second.map((e) => e.payload), [3, 4]);
        assert.deepEqual(await outbox.claim(10, 10_000), [], 'claimed effects are invisible');
        assert.equal((await outbox.effect(`${key}-fx-0`))?.attempts, 1);
      }),
    },
    {
      name: 'an effect whose claim expired is claimed again, with the next attempt number',
      timeoutMs: 15_000,
      run: withOutbox(async (outbox, key) => {
        await outbox.commit(key, 1, a, [{ payload: 'lost sender', idempotencyKey: `${key}-fx` }]);
        const [first] = await outbox.claim(10, 300);
        assert.equal(first?.attempt, 1);
        // The claimer died: nothing settles the claim.
        const again = await claimUntil(outbox, 5_000, (claimed) => claimed.length > 0);
        assert.deepEqual(again.map((e) => [e.idempotencyKey, e.attempt]), [[`${key}-fx`, 2]]);
        const reclaimed = again[0] as ClaimedEffect<unknown>;
        expectResult(effectCall('complete', reclaimed), await outbox.complete(reclaimed), true, 'the new claim holds it');
        assert.equal((await outbox.effect(`${key}-fx`))?.status, 'done');
      }),
    },
    {
      name: 'complete marks an effect done once; done effects are never claimed',
      run: withOutbox(async (outbox, key) => {
        await outbox.commit(key, 1, a, [{ payload: 1, idempotencyKey: `${key}-fx` }]);
        const [claimed] = await outbox.claim(10, 5_000);
        assert.ok(claimed !== undefined);
        expectResult(effectCall('complete', claimed), await outbox.complete(claimed), true, 'the claim holds it');
        expectResult(effectCall('complete', claimed), await outbox.complete(claimed), false, 'already done');
        assert.deepEqual(await outbox.counts(), { pending: 0, done: 1, dead: 0 });
        assert.equal((await outbox.effect(`${key}-fx`))?.status, 'done');
      }),
    },
    {
      name: 'retry makes an effect due after the delay, records the error, and only the latest claim may retry it',
      timeoutMs: 15_000,
      run: withOutbox(async (outbox, key) => {
        await outbox.commit(key, 1, a, [{ payload: 1, idempotencyKey: `${key}-fx` }]);
        const [stale] = await outbox.claim(10, 200);
        assert.ok(stale !== undefined);
        const [latest] = await claimUntil(outbox, 10_000, (claimed) => claimed.length > 0);
        assert.equal(latest?.attempt, 2);
        expectResult(effectCall('retry', stale), await outbox.retry(stale, 0, 'Error: from the old claim'), false, 'an expired claim changes nothing');
        assert.ok(latest !== undefined);
        expectResult(effectCall('retry', latest), await outbox.retry(latest, 60_000, 'Error: gateway 503'), true, 'the latest claim holds it');
        assert.deepEqual(await outbox.claim(10, 10_000), [], 'not due before the delay');
        const effect = await outbox.effect(`${key}-fx`);
        assert.equal(effect?.lastError, 'Error: gateway 503');
        assert.equal(effect?.status, 'pending');
        await outbox.commit(key, 2, a, [{ payload: 2, idempotencyKey: `${key}-fx2` }]);
        const [other] = await outbox.claim(10, 10_000);
        assert.ok(other !== undefined);
        expectResult(effectCall('retry', other), await outbox.retry(other, 0, 'Error: again'), true, 'the claim holds it');
        const [retried] = await outbox.claim(10, 10_000);
        assert.deepEqual([retried?.idempotencyKey, retried?.attempt, retried?.lastError], [`${key}-fx2`, 2, 'Error: again']);
      }),
    },
    {
      name: 'dead letters are kept with their last error, listed, and can be requeued',
      run: withOutbox(async (outbox, key) => {
        await outbox.commit(key, 1, a, [
          { payload: 'poison', idempotencyKey: `${key}-dead` },
          { payload: 'fine', idempotencyKey: `${key}-fine` },
        ]);
        const claimed = await outbox.claim(10, 10_000);
        const poison = claimed.find((e) => e.payload === 'poison');
        assert.ok(poison !== undefined);
        expectResult(effectCall('deadLetter', poison), await outbox.deadLetter(poison, 'NonRetriableError: bad number'), true, 'the claim holds it');
        expectResult(effectCall('deadLetter', poison), await outbox.deadLetter(poison, 'again'), false, 'no longer pending');
        expectResult(effectCall('retry', poison), await outbox.retry(poison, 0, 'again'), false, 'the claim no longer holds it');
        const dead = await outbox.deadLetters();
        assert.deepEqual(dead.map((e) => [e.idempotencyKey, e.status, e.attempts, e.lastError]), [
          [`${key}-dead`, 'dead', 1, 'NonRetriableError: bad number'],
        ]);
        assert.deepEqual(await outbox.counts(), { pending: 1, done: 0, dead: 1 });
        assert.equal(await outbox.requeue(`${key}-fine`), false, 'only dead effects are requeued');
        assert.equal(await outbox.requeue(`${key}-dead`), true);
        const [again] = await outbox.claim(10, 10_000);
        assert.deepEqual([again?.idempotencyKey, again?.attempt], [`${key}-dead`, 1]);
        assert.deepEqual(await outbox.deadLetters(), []);
      }),
    },
    {
      name: 'purge forgets sent effects after retainDoneMs, and only those',
      run: withOutbox(
        async (outbox, key) => {
          await outbox.commit(key, 1, a, [
            { payload: 1, idempotencyKey: `${key}-sent` },
            { payload: 2, idempotencyKey: `${key}-dead` },
            { payload: 3, idempotencyKey: `${key}-pending` },
          ]);
          const claimed = await outbox.claim(10, 10_000);
          const byKey = new Map(claimed.map((e) => [e.idempotencyKey, e]));
          const sent = byKey.get(`${key}-sent`) as ClaimedEffect<unknown>;
          const dead = byKey.get(`${key}-dead`) as ClaimedEffect<unknown>;
          expectResult(effectCall('complete', sent), await outbox.complete(sent), true, 'the claim holds it');
          expectResult(effectCall('deadLetter', dead), await outbox.deadLetter(dead, 'Error: x'), true, 'the claim holds it');
          await sleep(5);
          assert.equal(await outbox.purge(), 1);
          assert.equal(await outbox.effect(`${key}-sent`), undefined);
          assert.equal((await outbox.effect(`${key}-dead`))?.status, 'dead');
          assert.equal((await outbox.effect(`${key}-pending`))?.status, 'pending');
          // Past the retention a repeated commit creates the effect again (sent again under its key).
          const redo = await outbox.commit(key, 2, a, [{ payload: 1, idempotencyKey: `${key}-sent` }]);
          assert.deepEqual(redo.effects, [{ idempotencyKey: `${key}-sent`, created: true }]);
        },
        { retainDoneMs: 1 },
      ),
    },
    {
      name: 'headers captured at commit travel with every effect of the commit',
      run: withOutbox(
        async (outbox, key) => {
          await outbox.commit(key, 1, a, [
            { payload: 1, idempotencyKey: `${key}-1` },
            { payload: 2, idempotencyKey: `${key}-2` },
          ]);
          const claimed = await outbox.claim(10, 10_000);
          assert.equal(claimed.length, 2);
          for (const effect of claimed) {
            assert.deepEqual(effect.headers, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
          }
        },
        { captureHeaders: () => ({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }) },
      ),
    },
    {
      name: 'concurrent commits of rival owners: each commit lands whole or not at all',
      timeoutMs: 15_000,
      run: withOutbox(async (outbox, key) => {
        const fences: Fence[] = Array.from({ length: 16 }, (_, i) => ({ token: (i % 8) + 1, owner: `w${i}` }));
        const outcomes = await Promise.all(
          fences.map(async (fence) => {
            const effects = [0, 1].map((i) => ({ payload: { by: fence.owner, i }, idempotencyKey: `${key}-${fence.owner}-${i}` }));
            try {
              await outbox.commit(key, { by: fence.owner }, fence, effects);
              return { fence, ok: true };
            } catch (error) {
              assert.ok(isStaleTokenError(error), `only stale commits may fail, got ${String(error)}`);
              return { fence, ok: false };
            }
          }),
        );
        for (const { fence, ok } of outcomes) {
          const stored = await Promise.all([0, 1].map((i) => outbox.effect(`${key}-${fence.owner}-${i}`)));
          if (ok) {
            assert.ok(stored.every((e) => e?.token === fence.token && e.owner === fence.owner), `${fence.owner}: both effects`);
          } else {
            assert.ok(stored.every((e) => e === undefined), `${fence.owner} was rejected: none of its effects`);
          }
        }
        const accepted = outcomes.filter((o) => o.ok).length;
        assert.deepEqual(await outbox.counts(), { pending: accepted * 2, done: 0, dead: 0 });
        assert.equal((await outbox.get(key))?.token, 8, 'the highest token wins');
      }),
    },
    {
      name: 'concurrent claimers never get the same effect within its visibility',
      timeoutMs: 15_000,
      run: withOutbox(async (outbox, key) => {
        const effects = Array.from({ length: 30 }, (_, i) => ({ payload: i, idempotencyKey: `${key}-${i}` }));
        await outbox.commit(key, 1, a, effects);
        const got: string[] = [];
        await Promise.all(
          Array.from({ length: 5 }, async () => {
            for (;;) {
              const claimed = await outbox.claim(4, 30_000);
              if (claimed.length === 0) return;
              got.push(...claimed.map((e) => e.idempotencyKey));
            }
          }),
        );
        assert.equal(got.length, 30, 'every effect claimed once');
        assert.deepEqual(got.sort(), ids(effects));
      }),
    },
    {
      name: 'payloads round-trip as JSON',
      run: withOutbox(async (outbox, key) => {
        const payloads: readonly unknown[] = [
          { to: '+33 6 00 00 00 00', text: 'ünïcödé 🔑 "quoted"', nested: { list: [1, 'two', null], flag: false } },
          [1, [2, 3]],
          'text',
          '',
          0,
          -12.5,
          true,
          null,
        ];
        await outbox.commit(key, 1, a, payloads.map((payload, i) => ({ payload, idempotencyKey: `${key}-${i}` })));
        for (const [i, payload] of payloads.entries()) assert.deepEqual((await outbox.effect(`${key}-${i}`))?.payload, payload, `payload ${i}`);
        const claimed = await outbox.claim(20, 10_000);
        for (const effect of claimed) assert.deepEqual(effect.payload, payloads[Number(effect.idempotencyKey.slice(key.length + 1))]);
      }),
    },
  ];
  return cases;
}
