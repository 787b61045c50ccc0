// A pass-through between the gateway and a subgraph that records what the subgraph receives over graphql-ws:
// on whose behalf each subscription runs (the identity its connection was opened with) and what it delivered.
// HTTP requests pass unchanged.
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { verifyIdentity } from '#libs/auth';

/** One graphql-ws subscription as the subgraph saw it. */
export interface RecordedSubscription {
  /** Key id of its connection's signed identity, verified as the subgraph verifies it. */
  keyId: string;
  payload: { query: string; variables?: Record<string, any> };
  /** Results the subgraph sent for it, in order. */
  results: Array<{ data?: any; errors?: any[] }>;
  /** Completed by either side, failed, or its connection closed. */
  ended: boolean;
}

export interface SubgraphRecorder {
  /** The URL to give the gateway instead of the subgraph's (HTTP; graphql-ws on the same path). */
  url: string;
  subscriptions: RecordedSubscription[];
  stop(): Promise<void>;
}

/** Close codes a peer may not send itself (no status, abnormal, TLS): the other side is dropped instead. */
const UNSENDABLE = new Set([1005, 1006, 1015]);

function passClose(to: WebSocket, code: number, reason: Buffer): void {
  if (to.readyState === WebSocket.CLOSED || to.readyState === WebSocket.CLOSING) return;
  if (UNSENDABLE.has(code) || to.readyState !== WebSocket.OPEN) to.terminate();
  else to.close(code, reason);
}

export async function startSubgraphRecorder(
  targetUrl: string,
  identitySecret: string,
): Promise<SubgraphRecorder> {
  const target = new URL(targetUrl);
  const subscriptions: RecordedSubscription[] = [];
  const server = createServer((req, res) => {
    const forward = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  const wss = new WebSocketServer({ server, path: target.pathname });
  wss.on('connection', (client, req) => {
    const upstream = new WebSocket(
      `ws://${target.host}${req.url ?? target.pathname}`,
      client.protocol || undefined,
    );
    const waiting: string[] = [];
    const live = new Map<string, RecordedSubscription>();
    let keyId = '(none)';
    const end = (id: string) => {
      const s = live.get(id);
      if (s) s.ended = true;
      live.delete(id);
    };
    const endAll = () => [...live.keys()].forEach(end);
    client.on('message', (data) => {
      const text = String(data);
      const msg = JSON.parse(text) as { id: string; type: string; payload?: any };
      if (msg.type === 'connection_init') {
        try {
          keyId = verifyIdentity(msg.payload?.identity, identitySecret).keyId;
        } catch {
          keyId = '(invalid)';
        }
      } else if (msg.type === 'subscribe') {
        const s: RecordedSubscription = { keyId, payload: msg.payload, results: [], ended: false };
        subscriptions.push(s);
        live.set(msg.id, s);
      } else if (msg.type === 'complete') end(msg.id);
      if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
      else waiting.push(text);
    });
    upstream.on('open', () => waiting.splice(0).forEach((text) => upstream.send(text)));
    upstream.on('message', (data) => {
      const text = String(data);
      const msg = JSON.parse(text) as { id: string; type: string; payload?: any };
      if (msg.type === 'next') live.get(msg.id)?.results.push(msg.payload);
      else if (msg.type === 'error' || msg.type === 'complete') end(msg.id);
      if (client.readyState === WebSocket.OPEN) client.send(text);
    });
    client.on('close', (code, reason) => {
      endAll();
      passClose(upstream, code, reason);
    });
    upstream.on('close', (code, reason) => {
      endAll();
      passClose(client, code, reason);
    });
    client.on('error', () => upstream.terminate());
    upstream.on('error', () => client.terminate());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    subscriptions,
    async stop() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
