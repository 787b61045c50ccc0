import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import type { JobsService } from '../service/jobs-service.js';
import { createJobsGraphql, WS_MAX_PAYLOAD_BYTES, type JobsGraphql } from './graphql-server.js';

describe('jobs subgraph graphql-ws: maxPayload', () => {
  let http: Server;
  let graphql: JobsGraphql;

  beforeAll(async () => {
    // The service is never reached: the frame is refused by the WebSocket layer.
    graphql = await createJobsGraphql({} as JobsService, {
      identitySecret: 'x'.repeat(32),
      production: true,
    });
    http = createServer();
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    graphql.attachWebSocket(http);
  });
  afterAll(async () => {
    await graphql?.stop();
    await new Promise((r) => http?.close(r));
  });

  it('closes a socket that sends a message larger than WS_MAX_PAYLOAD_BYTES (1009) without reading it', async () => {
    const { port } = http.address() as AddressInfo;
    const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
    await new Promise((r) => socket.once('open', r));
    const closed = new Promise<number>((r) => socket.once('close', (code) => r(code)));
    socket.send(
      JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(WS_MAX_PAYLOAD_BYTES) } }),
    );
    expect(await closed).toBe(1009);
  });
});
