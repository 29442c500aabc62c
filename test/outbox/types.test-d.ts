import { expectTypeOf, test } from 'vitest';
import {
  MemoryOutbox,
  commitDecision,
  createOutboxDispatcher,
  type ClaimedEffect,
  type CommitResult,
  type DecisionContext,
  type FencedStore,
  type HandlerContext,
  type Outbox,
  type OutboxDispatcher,
} from '../../src/index.js';
import { captureTraceContext, dispatchTracing } from '../../src/otel/index.js';

interface State {
  readonly n: number;
}
interface Sms {
  readonly to: string;
}

test('an outbox is a fenced store', () => {
  expectTypeOf<MemoryOutbox<State, Sms>>().toExtend<Outbox<State, Sms>>();
  expectTypeOf<Outbox<State, Sms>>().toExtend<FencedStore<State>>();
});

test('commitDecision takes the handler context and types the decision', () => {
  expectTypeOf<HandlerContext<{ id: string }>>().toExtend<DecisionContext>();
  const outbox = new MemoryOutbox<State, Sms>();
  const ctx = {} as HandlerContext;
  expectTypeOf(commitDecision(outbox, ctx, (s) => ({ value: { n: (s?.n ?? 0) + 1 }, effects: [{ payload: { to: '42' } }] }))).toEqualTypeOf<
    Promise<CommitResult<State>>
  >();
  // @ts-expect-error the payload must be an Sms
  void commitDecision(outbox, ctx, () => ({ value: { n: 1 }, effects: [{ payload: { text: 'hi' } }] }));
});

test('the dispatcher sends typed effects; the otel helpers fit its options', () => {
  const outbox = new MemoryOutbox<State, Sms>({ captureHeaders: captureTraceContext() });
  const dispatcher = createOutboxDispatcher(outbox, (effect, signal) => {
    expectTypeOf(effect).toEqualTypeOf<ClaimedEffect<Sms>>();
    expectTypeOf(effect.payload.to).toBeString();
    expectTypeOf(signal).toEqualTypeOf<AbortSignal>();
  }, { middleware: [dispatchTracing<Sms>()] });
  expectTypeOf(dispatcher).toEqualTypeOf<OutboxDispatcher<Sms>>();
});
