/** Node's system error codes (`err.code`) for a peer that cannot be reached or dropped the connection. */
const SOCKET_FAILURE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * A failure to reach a backing service, known by its type or system error code, never by its message:
 * a Node socket error, or ioredis giving up on a command while it reconnects (MaxRetriesPerRequestError).
 */
export function isConnectivityError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && SOCKET_FAILURE_CODES.has(code)) return true;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  // fetch (undici) reports "fetch failed" with the socket error as its cause
  return e.cause !== e && isConnectivityError(e.cause);
}

/**
 * Redis's error reply codes (the reply's first word, part of the protocol) for a command refused because of the
 * state the server is in, not because of the command: out of memory under `noeviction`, busy running a script,
 * loading its data after a restart, a replica or a cluster in transition. Retrying later succeeds.
 */
const REDIS_STATE_REPLY_CODES = new Set([
  'OOM',
  'BUSY',
  'LOADING',
  'READONLY',
  'MASTERDOWN',
  'TRYAGAIN',
  'CLUSTERDOWN',
  'NOREPLICAS',
]);

/** Redis refused a command for the state it is in (REDIS_STATE_REPLY_CODES): unavailable for now, not a bad request. */
export function isRedisStateReply(e: unknown): boolean {
  return (
    e instanceof Error && e.name === 'ReplyError' && REDIS_STATE_REPLY_CODES.has(e.message.split(' ', 1)[0]!)
  );
}

/** A client of a backing service that knows whether it is connected (an ioredis client: `status`, `stream`). */
export interface ConnectionState {
  readonly status: string;
  /** The socket: after the peer died it stops being writable before the client's status changes. */
  readonly stream?: { readonly writable?: boolean } | null;
}

/** Not usable now: not `ready`, or `ready` on a socket that can no longer be written (the peer just died). */
const disconnected = (c: ConnectionState): boolean => c.status !== 'ready' || c.stream?.writable === false;

/**
 * The unavailability test of a service whose requests go to these Redis clients: a connectivity error, Redis
 * refusing commands for the state it is in (isRedisStateReply), or any unclassified failure while one of them is
 * not connected. ioredis rejects commands with plain errors
 * ("Connection is closed.", offline queue disabled) while it reconnects, and already while its socket has ended
 * but its status still says `ready`: its state and its socket's, not their text, say why.
 */
export const unavailableWhenDisconnected =
  (...clients: ConnectionState[]) =>
  (e: unknown): boolean =>
    isConnectivityError(e) || isRedisStateReply(e) || clients.some(disconnected);
