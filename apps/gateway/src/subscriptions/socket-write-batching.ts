import type { Socket } from 'node:net';
import type { WebSocket, WebSocketServer } from 'ws';

/**
 * Every frame sent to one client during one turn of the event loop leaves in ONE write: the client's TCP socket
 * is corked at the first send of the turn and uncorked in the check phase (setImmediate). An event that reaches
 * many subscriptions of one connection (10 jobFeed subscriptions per dashboard, a job's events to its watchers)
 * was one write system call per subscription; now it is one per connection. Order, framing and send callbacks
 * are ws's own (a callback fires once its frame is written, i.e. after the uncork).
 */
export function batchSocketWrites(wss: WebSocketServer): void {
  wss.on('connection', (ws: WebSocket) => {
    const raw = (ws as unknown as { _socket?: Socket })._socket;
    if (!raw || typeof raw.cork !== 'function') return;
    const send = ws.send.bind(ws) as (...args: unknown[]) => void;
    let corked = false;
    const uncork = () => {
      corked = false;
      raw.uncork();
    };
    ws.send = ((...args: unknown[]) => {
      if (!corked && raw.writable) {
        corked = true;
        raw.cork();
        setImmediate(uncork);
      }
      send(...args);
    }) as WebSocket['send'];
  });
}
