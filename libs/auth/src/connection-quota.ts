import { positiveInt } from '#libs/config';
import type { SharedSubscriptionSlots } from './shared-subscription-slots.js';

/** Open graphql-ws connections one API key may hold across every replica and entry point. */
export const CONNECTIONS_PER_KEY_DEFAULT = 1000;

/**
 * The bound's one name and default wherever it is enforced (the gateway for its clients, the jobs subgraph for
 * callers that did not come through the gateway; one count per key for both): spread into each app's env shape.
 */
export const connectionQuotaEnv = {
  MAX_CONNECTIONS_PER_KEY: positiveInt(CONNECTIONS_PER_KEY_DEFAULT),
};

/** WebSocket close code of a refused connection: 1013 Try Again Later (graphql-ws clients retry it with back-off). */
export const CONNECTION_REFUSED_CLOSE = 1013;

export type ConnectionAdmission = { release: () => void } | { refused: string };

/**
 * Open graphql-ws connections per API key, counted across replicas (and with the jobs subgraph's direct callers) in Redis (the subscription slots'
 * mechanism under another key, `connectionSlotsKey`). Nothing else bounds them: subscriptions are bounded per
 * connection and per key, but a key that opens connections and subscribes to nothing held a socket, a file
 * descriptor and graphql-ws state each, as many as it liked, until the process ran out of descriptors and
 * refused everyone. Fails closed (refused) when Redis cannot answer, as the subscription quota does.
 */
export class ConnectionQuota {
  constructor(
    readonly maxPerKey: number,
    private readonly slots: Pick<SharedSubscriptionSlots, 'acquire'>,
    private readonly events: {
      refused?(reason: 'connectionsPerKey' | 'connectionQuotaUnavailable'): void;
    } = {},
  ) {}

  /** A slot for one more connection of `keyId` (its release function), or why not (the close reason). */
  async admit(keyId: string): Promise<ConnectionAdmission> {
    let release: (() => void) | null;
    try {
      release = await this.slots.acquire(keyId, this.maxPerKey);
    } catch {
      this.events.refused?.('connectionQuotaUnavailable');
      return { refused: 'the connection quota store is unreachable; try again shortly' };
    }
    if (!release) {
      this.events.refused?.('connectionsPerKey');
      return { refused: `at most ${this.maxPerKey} open connections per API key` };
    }
    return { release };
  }

  /**
   * `admit` for a socket at its connection_init: the slot's release, or null once refused (the socket closed
   * CONNECTION_REFUSED_CLOSE with the reason) or when the client went away while the slot was being taken (given
   * back at once: nothing else would). The caller releases what it got when the connection closes.
   */
  async admitSocket(
    keyId: string,
    socket: { close(code: number, reason: string): void },
    closed: () => boolean,
  ): Promise<(() => void) | null> {
    const admission = await this.admit(keyId);
    if ('refused' in admission) {
      socket.close(CONNECTION_REFUSED_CLOSE, admission.refused);
      return null;
    }
    if (closed()) {
      admission.release();
      return null;
    }
    return admission.release;
  }
}
