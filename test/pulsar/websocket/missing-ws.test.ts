import { describe, expect, it, vi } from 'vitest';
import { isConfigurationError } from '../../../src/index.js';
import { pulsarWebSocketTransport } from '../../../src/pulsar/index.js';

// As if the optional peer dependency were not installed.
vi.mock('ws', () => {
  throw new Error("Cannot find package 'ws'");
});

describe('pulsar-ws without the ws package', () => {
  it('creates the transport, and fails on first use with a ConfigurationError saying to install ws', async () => {
    const transport = pulsarWebSocketTransport({ url: 'http://127.0.0.1:1' });
    const error = await transport.createProducer('t').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isConfigurationError(error)).toBe(true);
    expect((error as Error).message).toMatch(/npm install ws/);
  });
});
