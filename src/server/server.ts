/**
 * The server's edge: the TLS listener, one Session per connection, one sweeper timer for every
 * deadline, and an orderly shutdown. Everything decided about messages lives in the hub.
 */
import { ALPN } from "../protocol/schema.ts";
import { VERSION } from "../version.ts";
import { Hub, IDLE_TIMEOUT_MS } from "./hub.ts";
import {
  HANDSHAKE_TIMEOUT_MS,
  HELLO_TIMEOUT_MS,
  MAX_BAD_FRAMES,
  MAX_QUEUE_BYTES,
  Session,
  type SessionLimits,
} from "./session.ts";
import type { Store } from "./store/store.ts";

/** How often deadlines (handshake, hello, idle, drain) are checked. */
export const SWEEP_INTERVAL_MS = 1_000;
/** How often due temporary messages are expired: a tick with nothing due is one comparison. */
export const EXPIRY_INTERVAL_MS = 250;

export interface ServerOptions {
  hostname: string;
  port: number;
  certChainPem: string;
  keyPem: string;
  store: Store;
  password?: string;
  /** Messages per second per user, sustained; 0 turns the limit off. */
  maxRate?: number;
  limits?: Partial<SessionLimits>;
  log?: (line: string) => void;
}

export interface RunningServer {
  hub: Hub;
  addr: Deno.NetAddr;
  /** Tells clients, stops accepting, lets queues drain briefly, closes the store. */
  shutdown(message?: string): Promise<void>;
  /** Resolves when the server has shut down. */
  finished: Promise<void>;
}

export function startServer(options: ServerOptions): RunningServer {
  const limits: SessionLimits = {
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    helloTimeoutMs: HELLO_TIMEOUT_MS,
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    maxQueueBytes: MAX_QUEUE_BYTES,
    maxBadFrames: MAX_BAD_FRAMES,
    ...options.limits,
  };
  const log = options.log ?? (() => {});
  const hub = new Hub({
    store: options.store,
    version: VERSION,
    password: options.password,
    idleTimeoutMs: limits.idleTimeoutMs,
    maxRate: options.maxRate,
    log,
  });
  const listener = Deno.listenTls({
    hostname: options.hostname,
    port: options.port,
    cert: options.certChainPem,
    key: options.keyPem,
    alpnProtocols: [ALPN],
  });
  const sessions = new Set<Session>();
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const session of sessions) session.checkDeadline(now);
  }, SWEEP_INTERVAL_MS);
  const expirer = setInterval(() => hub.tick(), EXPIRY_INTERVAL_MS);

  let stopping = false;
  const accepting = (async () => {
    while (!stopping) {
      let conn: Deno.TlsConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (stopping || error instanceof Deno.errors.BadResource) break;
        // one failed accept (a reset before we got to it, a handshake error) must not stop the server
        continue;
      }
      const session = new Session(conn, hub, limits, Date.now);
      sessions.add(session);
      session.run().finally(() => sessions.delete(session));
    }
  })();

  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  return {
    hub,
    addr: listener.addr as Deno.NetAddr,
    finished: done,
    async shutdown(message = "the server is shutting down") {
      if (stopping) return done;
      stopping = true;
      listener.close();
      await accepting;
      hub.shutdown(message);
      for (const session of sessions) session.close("shutdown", message);
      const drained = Promise.all([...sessions].map((s) => s.closed));
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([drained, new Promise((r) => (timer = setTimeout(r, 2_000)))]);
      clearTimeout(timer);
      clearInterval(sweeper);
      clearInterval(expirer);
      options.store.close();
      finished();
      return done;
    },
  };
}
