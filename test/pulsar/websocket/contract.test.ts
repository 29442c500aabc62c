import { describe, it } from 'vitest';
import { pulsarWebSocketTransport } from '../../../src/pulsar/index.js';
import { registerContract, transportContract } from '../../../src/testing/index.js';
import { skipReason, webUrl } from './helpers.js';

const skip = skipReason();

if (skip !== undefined) {
  describe.skip(`pulsar-ws transport contract (${skip})`, () => undefined);
} else {
  registerContract(
    'pulsar-ws transport contract (live broker)',
    transportContract(() => pulsarWebSocketTransport({ url: webUrl }), {
      cleanup: (transport) => transport.close?.() ?? Promise.resolve(),
      nackRedeliveryDelayMs: 200,
    }),
    { describe, it },
  );
}
