/**
 * The server's edge: the TLS listener, one Session per connection, one sweeper timer for every
 * deadline, and an orderly shutdown. Everything decided about messages lives in the hub.
 *
 * The listener is node:tls rather than Deno.listenTls: a Deno TLS connection cannot be closed
 * before its handshake completes (close waits for the handshake), so a peer that opens TCP and
 * never speaks would hold its socket forever. node:tls enforces a handshake timeout and destroys
 * such sockets; it also costs about half the memory per idle connection here.
 */
import { createServer, type TLSSocket } from "node:tls";
import type { Socket } from "node:net";
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

/** How often deadlines (hello, idle, drain) are checked. */
export const SWEEP_INTERVAL_MS = 1_000;
/** How often due temporary messages are expired: a tick with nothing due is one comparison. */
export const EXPIRY_INTERVAL_MS = 250;
/** Open connections (handshaking or not) allowed from one address. */
export const MAX_CONNECTIONS_PER_ADDRESS = 32;

export interface ServerOptions {
  hostname: string;
  port: number;
  certChainPem: string;
  keyPem: string;
  store: Store;
  password?: string;
  /** Messages per second per user, sustained; 0 turns the limit off. */
  maxRate?: number;
  /** Open connections allowed from one address (default MAX_CONNECTIONS_PER_ADDRESS). */
  maxConnectionsPerAddress?: number;
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

/** Starts listening; resolves once the port is bound (rejects with the listen error). */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const limits: SessionLimits = {
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    helloTimeoutMs: HELLO_TIMEOUT_MS,
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    maxQueueBytes: MAX_QUEUE_BYTES,
    maxBadFrames: MAX_BAD_FRAMES,
    ...options.limits,
  };
  const perAddress = options.maxConnectionsPerAddress ?? MAX_CONNECTIONS_PER_ADDRESS;
  const log = options.log ?? (() => {});
  const hub = new Hub({
    store: options.store,
    version: VERSION,
    password: options.password,
    idleTimeoutMs: limits.idleTimeoutMs,
    maxRate: options.maxRate,
    log,
  });
  let stopping = false;
  const sessions = new Set<Session>();
  const sockets = new Set<Socket>();
  const byAddress = new Map<string, number>();

  const server = createServer({
    cert: options.certChainPem,
    key: options.keyPem,
    ALPNProtocols: [ALPN],
    minVersion: "TLSv1.2",
    handshakeTimeout: limits.handshakeTimeoutMs,
  }, (socket: TLSSocket) => {
    if (stopping) return void socket.destroy();
    const session = new Session(socket, hub, limits, Date.now);
    sessions.add(session);
    session.closed.then(() => sessions.delete(session));
  });
  // every TCP connection, before TLS: count it against its address, refuse past the limit
  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "?";
    const open = (byAddress.get(address) ?? 0) + 1;
    if (open > perAddress || stopping) return void socket.destroy();
    byAddress.set(address, open);
    sockets.add(socket);
    // small frames go out at once: Nagle would hold the welcome for the handshake's delayed ACK
    socket.setNoDelay(true);
    socket.on("close", () => {
      sockets.delete(socket);
      const left = (byAddress.get(address) ?? 1) - 1;
      if (left <= 0) byAddress.delete(address);
      else byAddress.set(address, left);
    });
  });
  // not TLS, a handshake timeout, a refused certificate: nothing to say to it, just let it go
  server.on("tlsClientError", (_error: Error, socket: TLSSocket) => socket.destroy());
  server.on("error", () => {});

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as { address: string; port: number };

  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const session of sessions) session.checkDeadline(now);
  }, SWEEP_INTERVAL_MS);
  const expirer = setInterval(() => hub.tick(), EXPIRY_INTERVAL_MS);

  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  return {
    hub,
    addr: { transport: "tcp", hostname: bound.address, port: bound.port },
    finished: done,
    async shutdown(message = "the server is shutting down") {
      if (stopping) return done;
      stopping = true;
      server.close();
      hub.shutdown(message);
      for (const session of sessions) session.close("shutdown", message);
      const drained = Promise.all([...sessions].map((s) => s.closed));
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([drained, new Promise((r) => (timer = setTimeout(r, 2_000)))]);
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      clearInterval(sweeper);
      clearInterval(expirer);
      options.store.close();
      finished();
      return done;
    },
  };
}
