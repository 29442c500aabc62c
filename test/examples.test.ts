import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('examples stay runnable', () => {
  it('quick-start (the README snippet) handles its event and stops', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/quick-start.ts'], { timeout: 30_000 });
    expect(stdout).toContain('decided for s-42 after add-to-cart');
    expect(stdout).toMatch(/released: 0, abandoned: 0/);
  });

  it('broker-faults applies every event once through lost acks, a drop, an unload and a restart', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/broker-faults.ts'], { timeout: 30_000 });
    expect(stdout).toMatch(/acks lost: [1-9]\d*; repeats recognised and acknowledged: [1-9]\d*; events applied: 300 of 300/);
  });

  it('decision-engine --quick runs every mode, loses nothing and prints the table', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/decision-engine/main.ts', '--quick'], {
      timeout: 60_000,
      env: { ...process.env, NO_COLOR: '1' },
    });
    for (const mode of ['shared', 'shared-locked', 'failover', 'key-shared', 'failover, serial']) {
      expect(stdout).toMatch(new RegExp(`\\| ${mode.replace(',', ',')}\\s+\\|`));
    }
    expect(stdout).toMatch(/Checked: all [\d,]+ published events were handled/);
    // Through the outbox, with its dispatcher dying mid-send: no fenced mode messages a shopper twice.
    expect(stdout).toContain('- Zero duplicate sends: shared-locked; failover; key-shared; failover, serial.');
    expect(stdout).toMatch(/Fault phase .* died with [1-9][\d,]* sends .* and no shopper got a second message\./);
  }, 90_000);
});
