/**
 * The adapter's structural types against the real declarations of pulsar-client 1.18.0, which
 * cannot be installed here (its install downloads a native binary) and are not committed: the
 * package tarball is fetched with `npm pack` once and cached under
 * `node_modules/.cache/exclusive-consumer/`. A tiny program that uses the adapter with a real
 * `Client` is compiled by the TypeScript compiler in a temporary directory where `pulsar-client`
 * resolves to those declarations; it must compile without a diagnostic, and negative controls
 * prove that the same check does fail when a type does not fit. Without a registry, it skips.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const VERSION = '1.18.0';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const cacheDir = join(root, 'node_modules', '.cache', 'exclusive-consumer', `pulsar-client-${VERSION}`);
const declarations = join(cacheDir, 'package', 'index.d.ts');

/** The path of pulsar-client's index.d.ts, fetched into the cache if needed; or why it cannot be. */
function obtainDeclarations(): string | { skip: string } {
  if (existsSync(declarations)) return declarations;
  mkdirSync(cacheDir, { recursive: true });
  const pack = spawnSync('npm', ['pack', `pulsar-client@${VERSION}`, '--pack-destination', cacheDir, '--loglevel', 'error'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const tarball = join(cacheDir, `pulsar-client-${VERSION}.tgz`);
  if (pack.status !== 0 || !existsSync(tarball)) {
    const lines = (pack.stderr ?? '').split('\n').filter((l) => l.trim() !== '' && !/complete log|npm help config/.test(l));
    const why = lines.slice(0, 2).join(' ') || pack.error?.message || `exit ${pack.status}`;
    return { skip: `npm pack pulsar-client@${VERSION} failed (no registry?): ${why}` };
  }
  const untar = spawnSync('tar', ['-xzf', tarball, '-C', cacheDir, 'package/index.d.ts'], { encoding: 'utf8' });
  if (untar.status !== 0 || !existsSync(declarations)) return { skip: `could not extract index.d.ts from ${tarball}: ${untar.stderr}` };
  return declarations;
}

const found = obtainDeclarations();
if (typeof found !== 'string') process.stderr.write(`pulsar-client type test skipped: ${found.skip}\n`);

const adapter = JSON.stringify(join(root, 'src', 'pulsar', 'native', 'index.js'));
const entry = JSON.stringify(join(root, 'src', 'pulsar', 'index.js'));

interface Compiled {
  readonly diagnostics: readonly ts.Diagnostic[];
  /** Whether `pulsar-client` resolved to the declarations under test. */
  readonly resolvedPulsarClient: boolean;
  readonly text: string;
}

/**
 * Compile `source` as `check.ts` of an ESM package whose `node_modules/pulsar-client` holds only
 * the published declarations, with the repository's strictness.
 */
function compile(dts: string, source: string): Compiled {
  const dir = mkdtempSync(join(tmpdir(), 'ec-pulsar-client-types-'));
  try {
    const pkg = join(dir, 'node_modules', 'pulsar-client');
    mkdirSync(pkg, { recursive: true });
    copyFileSync(dts, join(pkg, 'index.d.ts'));
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'pulsar-client', version: VERSION, main: 'index.js', types: 'index.d.ts' }));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'check', private: true, type: 'module' }));
    const file = join(dir, 'check.ts');
    writeFileSync(file, source);
    const program = ts.createProgram([file], {
      strict: true,
      noUncheckedIndexedAccess: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2023.d.ts'],
      types: ['node'],
      typeRoots: [join(root, 'node_modules', '@types')],
      // Their declarations are not ours to check; every use of them still is.
      skipLibCheck: true,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program);
    const host: ts.FormatDiagnosticsHost = {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => dir,
      getNewLine: () => '\n',
    };
    return {
      diagnostics,
      resolvedPulsarClient: program.getSourceFile(join(pkg, 'index.d.ts')) !== undefined,
      text: ts.formatDiagnostics(diagnostics, host),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Assignability ignores properties the target does not declare (excess properties are checked on
 * object literals only), so a misspelled optional option would pass unnoticed: this helper fails
 * to compile, naming the key, when \`Ours\` has a key \`Theirs\` does not.
 */
const ONLY_KNOWN_KEYS = `
type ExtraKeys<Ours, Theirs> = Exclude<keyof Ours, keyof Theirs>;
function onlyKnownKeys<Ours, Theirs>(ok: [ExtraKeys<Ours, Theirs>] extends [never] ? true : ExtraKeys<Ours, Theirs>): void {
  void ok;
}
`;

const PROGRAM = `
import type {
  Client, Consumer, ConsumerBatchReceivePolicy, ConsumerConfig, DeadLetterPolicy, KeySharedPolicy, Message,
  MessageId, Producer, ProducerConfig, ProducerMessage,
} from 'pulsar-client';
import {
  pulsarClientTransport,
  type PulsarClientLike, type PulsarClientProducerOptions, type PulsarConsumerConfig, type PulsarConsumerLike,
  type PulsarMessageIdLike, type PulsarMessageLike, type PulsarProducerConfig, type PulsarProducerLike,
  type PulsarProducerMessage,
} from ${adapter};
${ONLY_KNOWN_KEYS}
import { pulsarClientTransport as fromEntry, type PulsarClientTransport } from ${entry};

declare const client: Client;

// What a user writes: a real Client fits the adapter, as is.
const transport: PulsarClientTransport = pulsarClientTransport({ client });
fromEntry({
  client, tenant: 'public', namespace: 'default', receive: { batchSize: 500, timeoutMs: 10 },
  producer: { compressionType: 'LZ4', hashingScheme: 'Murmur3_32Hash', batchingMaxPublishDelayMs: 10 },
  deadLetterSubscription: false, connectionCheckIntervalMs: 200,
});

// What the client hands back fits what the adapter reads.
declare const realConsumer: Consumer;
declare const realMessage: Message;
declare const realMessageId: MessageId;
declare const realProducer: Producer;
const consumer: PulsarConsumerLike = realConsumer;
const message: PulsarMessageLike = realMessage;
const messageId: PulsarMessageIdLike = realMessageId;
const producer: PulsarProducerLike = realProducer;
const asClient: PulsarClientLike = client;

// What the adapter passes fits what the client accepts. Checked in this direction on purpose:
// method parameters are compared bivariantly, so the assignments above would not catch a wrong
// option name or value.
declare const consumerConfig: PulsarConsumerConfig;
declare const producerConfig: PulsarProducerConfig;
declare const producerMessage: PulsarProducerMessage;
const clientConsumerConfig: ConsumerConfig = consumerConfig;
const clientProducerConfig: ProducerConfig = producerConfig;
const clientProducerMessage: ProducerMessage = producerMessage;
// ...and every option name the adapter sets is one the client reads.
onlyKnownKeys<PulsarConsumerConfig, ConsumerConfig>(true);
onlyKnownKeys<NonNullable<PulsarConsumerConfig['batchReceivePolicy']>, ConsumerBatchReceivePolicy>(true);
onlyKnownKeys<NonNullable<PulsarConsumerConfig['keySharedPolicy']>, KeySharedPolicy>(true);
onlyKnownKeys<NonNullable<PulsarConsumerConfig['deadLetterPolicy']>, DeadLetterPolicy>(true);
onlyKnownKeys<PulsarProducerConfig, ProducerConfig>(true);
onlyKnownKeys<PulsarClientProducerOptions, ProducerConfig>(true);
onlyKnownKeys<PulsarProducerMessage, ProducerMessage>(true);

// The calls the adapter makes, against the real signatures.
async function calls(c: Client): Promise<void> {
  const cons = await c.subscribe(consumerConfig);
  const batch: Message[] = await cons.batchReceive();
  const first = batch[0];
  if (first !== undefined) {
    const acked: Promise<null> = cons.acknowledge(first);
    await acked;
    cons.negativeAcknowledge(first);
    const id: string = first.getMessageId().toString();
    const key: string = first.getPartitionKey();
    const data: Uint8Array = first.getData();
    void [id, key, data];
  }
  const connected: boolean = cons.isConnected();
  await cons.close();
  const p = await c.createProducer(producerConfig);
  const sent: MessageId = await p.send(producerMessage);
  await p.flush();
  await p.close();
  void [connected, sent];
}

export { transport, consumer, message, messageId, producer, asClient, clientConsumerConfig, clientProducerConfig, clientProducerMessage, calls };
`;

/** Programs that must NOT compile, each with the diagnostic that proves why. */
const NEGATIVE: ReadonlyArray<{ readonly name: string; readonly source: string; readonly expect: RegExp }> = [
  {
    name: 'an object without subscribe is not a client',
    source: `
import type { Client } from 'pulsar-client';
import { pulsarClientTransport } from ${adapter};
declare const client: Client;
pulsarClientTransport({ client: { createProducer: client.createProducer.bind(client) } });
`,
    expect: /Property 'subscribe' is missing/,
  },
  {
    name: 'a consumer without batchReceive does not fit',
    source: `
import type { Consumer } from 'pulsar-client';
import type { PulsarConsumerLike } from ${adapter};
declare const old: Omit<Consumer, 'batchReceive'>;
export const consumer: PulsarConsumerLike = old;
`,
    expect: /Property 'batchReceive' is missing/,
  },
  {
    name: 'an option value the client does not know is rejected',
    source: `
import type { ConsumerConfig } from 'pulsar-client';
import type { PulsarConsumerConfig } from ${adapter};
declare const config: PulsarConsumerConfig;
export const wrong: ConsumerConfig = { ...config, subscriptionType: 'Key_Shared' as const };
`,
    expect: /'"Key_Shared"' is not assignable/,
  },
  {
    name: 'a misspelled option name is caught',
    source: `
import type { ConsumerConfig } from 'pulsar-client';
import type { PulsarConsumerConfig } from ${adapter};
${ONLY_KNOWN_KEYS}
type Misspelled = PulsarConsumerConfig & { readonly nackRedeliverTimeoutMs?: number };
onlyKnownKeys<Misspelled, ConsumerConfig>(true);
`,
    expect: /not assignable to parameter of type '"nackRedeliverTimeoutMs"'/,
  },
];

if (typeof found !== 'string') {
  describe(`pulsar-client ${VERSION} type test`, () => {
    it.skip(`skipped: ${found.skip}`, () => undefined);
  });
} else {
  describe(`the pulsar-client adapter against pulsar-client ${VERSION}'s published declarations`, () => {
    it('a real Client, its consumers, producers and messages fit the adapter, and the adapter\'s configs fit the client', () => {
      const result = compile(found, PROGRAM);
      expect(result.resolvedPulsarClient).toBe(true);
      expect(result.text).toBe('');
      expect(result.diagnostics).toHaveLength(0);
    }, 120_000);

    for (const negative of NEGATIVE) {
      it(`negative control: ${negative.name}`, () => {
        const result = compile(found, negative.source);
        expect(result.resolvedPulsarClient).toBe(true);
        expect(result.diagnostics.length).toBeGreaterThan(0);
        expect(result.text).toMatch(negative.expect);
        // Only the program's own line fails: the adapter's sources compile.
        for (const d of result.diagnostics) expect(d.file?.fileName).toMatch(/check\.ts$/);
      }, 120_000);
    }
  });
}
