#!/usr/bin/env node
// `npx exclusive-consumer check <file…>`: the deployment history checker on run logs or OTLP
// trace exports. Exit codes: 0 clean, 1 violations (overlaps, order), 2 unusable input or usage.
import { readFileSync } from 'node:fs';
import { check, usage } from './check.js';

const [command, ...args] = process.argv.slice(2);
if (command !== 'check') {
  process.stderr.write(usage);
  process.exitCode = command === '--help' || command === '-h' ? 0 : 2;
} else {
  const result = check(args, (path) => readFileSync(path, 'utf8'));
  if (result.stdout !== '') process.stdout.write(result.stdout);
  if (result.stderr !== '') process.stderr.write(result.stderr);
  process.exitCode = result.code;
}
