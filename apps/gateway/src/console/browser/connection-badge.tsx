// The always-visible connection state of the live (graphql-ws) connection.
import { useEffect, useState } from 'react';
import type { ConnectionState, LiveConnection } from './live-connection.js';

function describe(s: ConnectionState, now: number): string {
  switch (s.kind) {
    case 'connecting':
      return 'connecting…';
    case 'live':
      return 'live';
    case 'resumed':
      return 'resumed from the last cursor';
    case 'offline':
      return `offline: ${s.reason}`;
    case 'reconnecting': {
      const wait =
        s.nextTryAt === null
          ? 'trying now'
          : `next try in ${Math.max(0, Math.ceil((s.nextTryAt - now) / 1000))} s`;
      return `reconnecting (attempt ${s.attempt}, ${wait})`;
    }
  }
}

export function useConnectionState(live: LiveConnection): ConnectionState {
  const [state, setState] = useState(live.state);
  useEffect(() => {
    setState(live.state);
    return live.onState(setState);
  }, [live]);
  return state;
}

export function ConnectionBadge({ live }: { live: LiveConnection }) {
  const state = useConnectionState(live);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (state.kind !== 'reconnecting') return;
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [state]);
  return (
    <div
      className={`connection connection-${state.kind}`}
      role="status"
      aria-live="polite"
      data-state={state.kind}
    >
      <span className="dot" aria-hidden="true" />
      <span className="connection-text">{describe(state, now)}</span>
    </div>
  );
}
