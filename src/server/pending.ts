/**
 * Connections that have not logged in yet, per address, and which one makes room when an address
 * has too many. Without a choice, idle sockets re-opened as fast as they are dropped would push
 * out every newcomer from their address before it could finish its handshake. So a newcomer
 * takes the place of, in order:
 *
 * 1. the oldest that has sent nothing at all (an idle socket: a real client speaks at once);
 * 2. the oldest that has been pending longer than PENDING_GRACE_MS (a handshake or a hello that
 *    stalls: a real one takes milliseconds);
 *
 * and when every one is young and busy, the newcomer is the one refused. Logged-in connections
 * are not here (they count once per user), so none of this can touch them.
 */

/** How long a connection that has started its handshake is safe from being pushed out. */
export const PENDING_GRACE_MS = 2_000;

/** What this needs of a connection (a node:net Socket has both). */
export interface PendingSocket {
  /** Bytes received so far. */
  readonly bytesRead: number;
  destroy(): void;
}

export class PendingConnections<S extends PendingSocket = PendingSocket> {
  /** By address key, then by "address:port", oldest first, with when it came. */
  readonly #byAddress = new Map<string, Map<string, { socket: S; since: number }>>();

  constructor(
    readonly perAddress: number,
    readonly now: () => number = Date.now,
    /** Told when one is pushed out to make room (for the log and metrics). */
    readonly onPushOut: (key: string) => void = () => {},
  ) {}

  /**
   * A new connection from `key`: admitted (true), possibly after pushing out another, or not
   * (false: the caller closes it).
   */
  admit(key: string, remote: string, socket: S): boolean {
    let waiting = this.#byAddress.get(key);
    if (!waiting) this.#byAddress.set(key, waiting = new Map());
    if (waiting.size >= this.perAddress) {
      const victim = this.#victim(waiting);
      if (victim === undefined) {
        if (waiting.size === 0) this.#byAddress.delete(key);
        return false;
      }
      waiting.get(victim)!.socket.destroy();
      waiting.delete(victim);
      this.onPushOut(key);
    }
    waiting.set(remote, { socket, since: this.now() });
    return true;
  }

  /** It logged in, or closed: no longer pending. */
  remove(key: string, remote: string): void {
    const waiting = this.#byAddress.get(key);
    if (!waiting?.delete(remote)) return;
    if (waiting.size === 0) this.#byAddress.delete(key);
  }

  /** How many are pending from `key`. */
  count(key: string): number {
    return this.#byAddress.get(key)?.size ?? 0;
  }

  #victim(waiting: Map<string, { socket: S; since: number }>): string | undefined {
    let stale: string | undefined;
    const now = this.now();
    for (const [remote, { socket, since }] of waiting) {
      if (socket.bytesRead === 0) return remote; // oldest first: the first silent one
      if (stale === undefined && now - since > PENDING_GRACE_MS) stale = remote;
    }
    return stale;
  }
}
