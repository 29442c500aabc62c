/**
 * A fake SMS gateway for the outbox fault tests: an HTTP server on loopback that records every
 * request it receives (idempotency key, sender, attempt, payload) before answering, so that the
 * tests can check what was sent from the gateway's side. Requests from the senders in `hang`, and
 * those of a sender in `hangAfter` beyond its count, are recorded and never answered: a send in
 * flight when its dispatcher is killed.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request, as the gateway received it. */
export interface GatewayCall {
  readonly idempotencyKey: string;
  readonly header: string | undefined;
  readonly sender: string;
  readonly attempt: number;
  readonly payload: { readonly decision: string; readonly by: string; readonly token: number };
  /** Whether the gateway answered 200 (a hung request never is). */
  answered: boolean;
}

export interface Gateway {
  readonly url: string;
  readonly calls: readonly GatewayCall[];
  /** Senders whose requests are recorded and left hanging. */
  readonly hang: Set<string>;
  /** Senders whose requests are answered up to this many, then left hanging. */
  readonly hangAfter: Map<string, number>;
  close(): Promise<void>;
}

export async function startGateway(): Promise<Gateway> {
  const calls: GatewayCall[] = [];
  const hang = new Set<string>();
  const hangAfter = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<GatewayCall, 'answered' | 'header'>;
      const call: GatewayCall = { ...body, header: request.headers['idempotency-key'] as string | undefined, answered: false };
      calls.push(call);
      const allowed = hangAfter.get(call.sender);
      if (hang.has(call.sender) || (allowed !== undefined && calls.filter((c) => c.sender === call.sender && c.answered).length >= allowed)) {
        return;
      }
      call.answered = true;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"queued"}');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/messages`,
    calls,
    hang,
    hangAfter,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
