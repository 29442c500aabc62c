import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { skipReason, webUrl } from './helpers.js';

const run = promisify(execFile);
const skip = skipReason();

describe.skipIf(skip !== undefined)('the decision-engine demo on a live Pulsar broker', () => {
  it('npm start -- --pulsar <url> --quick runs every mode on the broker and loses nothing', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'examples/decision-engine/main.ts', '--pulsar', webUrl, '--quick'],
      { timeout: 90_000, env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(stdout).toContain(`on Pulsar at ${webUrl} (WebSocket transport)`);
    for (const mode of ['shared', 'shared-locked', 'failover', 'key-shared', 'failover, serial']) {
      expect(stdout).toMatch(new RegExp(`\\| ${mode}\\s+\\|`));
    }
    expect(stdout).toMatch(/Checked: all [\d,]+ published events were handled/);
  }, 120_000);

  it('--pulsar with a broker that does not answer exits 2 with the reason', async () => {
    const failed = await run(process.execPath, ['--import', 'tsx', 'examples/decision-engine/main.ts', '--pulsar', 'http://127.0.0.1:1'], {
      timeout: 30_000,
    }).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(/does not answer/);
  }, 40_000);
});
