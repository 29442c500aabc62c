/**
 * `npm run bench` — runs the scenarios, prints a markdown table and writes it, with the raw figures,
 * to bench/results/.
 *
 *   npm run bench                      full run (≈ 2–3 min), writes results/latest.{json,md}
 *   npm run bench -- --quick           smoke run (small sizes, 2 rounds), writes results/partial.{json,md}
 *   npm run bench -- --only core       one scenario (core | hol | memory | pulsar | redis | outbox; repeatable or comma-separated)
 *   npm run bench -- --rounds 7        rounds of each interleaved comparison (default 5, quick 2)
 *   npm run bench -- --strict          exit with code 1 when a target fails
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo, renderMarkdown, type BenchReport, type ScenarioResult } from './lib/report.js';
import type { Scenario, ScenarioContext } from './lib/scenario.js';
import { gc, now } from './lib/util.js';
import { churnScenario } from './scenarios/churn.js';
import { coreScenario } from './scenarios/core.js';
import { headOfLineScenario } from './scenarios/head-of-line.js';
import { memoryScenario } from './scenarios/memory.js';
import { outboxScenario } from './scenarios/outbox.js';
import { pulsarScenario } from './scenarios/pulsar.js';
import { redisScenario } from './scenarios/redis.js';

const SCENARIOS: readonly Scenario[] = [coreScenario, headOfLineScenario, memoryScenario, pulsarScenario, redisScenario, outboxScenario, churnScenario];

function usage(message: string): never {
  process.stderr.write(`${message}\nUsage: npm run bench -- [--quick] [--only ${SCENARIOS.map((s) => s.name).join('|')}] [--rounds N] [--strict]\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        only: { type: 'string', multiple: true },
        rounds: { type: 'string' },
        strict: { type: 'boolean', default: false },
      },
      allowPositionals: false,
    }).values;
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  const quick = args.quick === true;
  const only = (args.only ?? []).flatMap((o) => o.split(',')).filter((o) => o.length > 0);
  for (const name of only) {
    if (!SCENARIOS.some((s) => s.name === name)) usage(`Unknown scenario "${name}"`);
  }
  const rounds = args.rounds === undefined ? (quick ? 2 : 5) : Number(args.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) usage('--rounds must be an integer ≥ 1');
  const selected = only.length === 0 ? SCENARIOS : SCENARIOS.filter((s) => only.includes(s.name));
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function') {
    usage('global.gc is missing: run through `npm run bench` (node --expose-gc --import tsx bench/run.ts)');
  }

  const ctx: ScenarioContext = {
    quick,
    rounds,
    log: (message) => process.stdout.write(`${message}\n`),
  };
  const began = now();
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  const results: ScenarioResult[] = [];
  for (const scenario of selected) {
    ctx.log(`\n== ${scenario.title}${quick ? ' (quick)' : ''}`);
    gc();
    results.push(await scenario.run(ctx));
  }

  const passed = results.flatMap((r) => r.rows).every((r) => r.pass !== false);
  const report: BenchReport = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    node: process.version,
    v8: process.versions.v8,
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    quick,
    rounds,
    durationMs: now() - began,
    loadAverage: { start: loadAtStart, end: loadavg()[0] ?? Number.NaN },
    scenarios: results,
    passed,
  };
  const markdown = renderMarkdown(report);
  const full = !quick && only.length === 0 && args.rounds === undefined;
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const base = full ? 'latest' : 'partial';
  writeFileSync(join(dir, `${base}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(dir, `${base}.md`), `${markdown}\n`);
  process.stdout.write(`\n${markdown}\n`);
  process.stdout.write(`Written to ${relative(process.cwd(), join(dir, `${base}.md`))} and ${base}.json\n`);
  if (args.strict === true && !passed) process.exit(1);
  // Timers of stopped consumers and brokers are unref'd; exit without waiting for stragglers anyway.
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
