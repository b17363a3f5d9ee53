/** One connection as the server's core sees it: a Session, or a plain object in tests. */
import type { User } from "../protocol/schema.ts";
import type { BacklogSource } from "./backlog.ts";

export interface Peer {
  /** Queues one encoded frame for this connection. Never blocks. */
  send(frame: Uint8Array): void;
  /** Says goodbye and closes. */
  close(reason: string, message: string): void;
  /**
   * Sends a backlog as fast as the connection drains it, reading it from `source` a page at a
   * time and holding live frames until it is done, so a long replay neither trips the queue cap,
   * nor sits in memory, nor lets newer frames overtake older ones. Without it, the whole backlog
   * is sent at once.
   */
  replay?(source: BacklogSource): void;
  /** Set once `hello` succeeded. */
  user?: User;
  /** The session (device) this connection logged in with. */
  sessionId?: string;
  /** The peer's network address, for the log and per-address limits. */
  address?: string;
  /** Set while a refusal is being delayed: nothing more is heard from this peer. */
  refused?: boolean;
  /** Requests refused in a row for going too fast. */
  strikes?: number;
}
