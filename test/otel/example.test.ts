import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('examples/tracing stays runnable', () => {
  it('traces one shopper from request to decision, and fires the violation alert only in shared mode', async () => {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'examples/tracing/main.ts'], {
      timeout: 60_000,
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(stdout).toMatch(/^POST \/events \[SERVER\]/m);
    expect(stdout).toMatch(/^└─ send shopper-events \[PRODUCER\]/m);
    expect(stdout).toMatch(/^ {3}└─ process shopper-events \[CONSUMER\].* ec\.outcome=ack/m);
    expect(stdout).toMatch(/^ {6}└─ decide \[INTERNAL\].*decision\.send=true/m);
    expect(stdout).toContain("name: 'process shopper-events'"); // the console exporter's dump
    expect(stdout).toContain('Spans carrying the raw shopper id: 0.');
    expect(stdout).toMatch(/key-shared violations=0 {2}ok/);
    expect(stdout).toMatch(/shared {5}violations=[1-9]\d* {2}FIRING/);
    expect(stdout).toMatch(/^Checked: /m);
    expect(stderr).toMatch(/INFO {2}consumer started topic=shopper-events/);
  }, 90_000);
});
