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
import { addressKey } from "./address.ts";
import { OutputBudget } from "./budget.ts";
import { type Log, silentLog, SUMMARY_INTERVAL_MS } from "./log.ts";
import * as metrics from "./metrics.ts";
import { PendingConnections } from "./pending.ts";
import { MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS, OUTPUT_BUDGET_BYTES } from "./limits.ts";
import { Hub, IDLE_TIMEOUT_MS } from "./hub.ts";

export { MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS };
import {
  HANDSHAKE_TIMEOUT_MS,
  HELLO_TIMEOUT_MS,
  MAX_BAD_FRAMES,
  MAX_QUEUE_BYTES,
  Session,
  type SessionLimits,
} from "./session.ts";
import type { Store } from "./store/store.ts";
import type { Searcher } from "./search/searcher.ts";
import type { HubOptions } from "./hub.ts";

/** Error codes of a connection closed during its TLS handshake (not a TLS error). */
const CLOSED_CODES = new Set(["ECONNRESET", "EPIPE", "ERR_STREAM_DESTROYED", "ECONNABORTED"]);

/** How often deadlines (hello, idle, drain) are checked. */
export const SWEEP_INTERVAL_MS = 1_000;
/** How often due temporary messages are expired: a tick with nothing due is one comparison. */
export const EXPIRY_INTERVAL_MS = 250;

export interface ServerOptions {
  hostname: string;
  port: number;
  certChainPem: string;
  keyPem: string;
  store: Store;
  /** Runs searches off the event loop (search/mod.ts searcherFor); closed before the store. */
  searcher?: Searcher;
  password?: string;
  /** Messages per second per user, sustained; 0 turns the limit off. */
  maxRate?: number;
  /** Connections not yet logged in allowed from one address (default MAX_CONNECTIONS_PER_ADDRESS). */
  maxConnectionsPerAddress?: number;
  /** Open connections on the whole server (default MAX_CONNECTIONS). */
  maxConnections?: number;
  /** Messages per second from one address (default: 5 × maxRate); 0 turns it off. */
  maxRatePerAddress?: number;
  /** New ids per hour per address (default in hub.ts); 0 turns it off. */
  newIdsPerAddressPerHour?: number;
  /** Rooms created per hour per address (default in limits.ts); 0 turns it off. */
  newRoomsPerAddressPerHour?: number;
  /** Rooms the server keeps at most (default in limits.ts). */
  maxRooms?: number;
  /** Output bytes the whole server may hold before senders are paused (default OUTPUT_BUDGET_BYTES). */
  outputBudgetBytes?: number;
  limits?: Partial<SessionLimits>;
  log?: Log;
  /** One node of a cluster (docs/CLUSTER.md): the bus and the store's commit log. */
  cluster?: HubOptions["cluster"];
}

export interface RunningServer {
  hub: Hub;
  /** The server-wide output budget (for tests and figures). */
  budget: OutputBudget;
  addr: Deno.NetAddr;
  /** Tells clients, stops accepting, lets queues drain briefly, closes the store. */
  shutdown(message?: string): Promise<void>;
  /** Resolves when the server has shut down. */
  finished: Promise<void>;
  /**
   * Serves this certificate chain and key to new connections from now on; connections already
   * open keep theirs (a renewed certificate, nobody dropped). Throws if node:tls refuses them.
   */
  setCertificate(certChainPem: string, keyPem: string): void;
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
  const maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
  const log = options.log ?? silentLog;
  /** A refusal a client can cause at will: a metric, and a count in the log's next summary. */
  const refuse = (reason: string, address?: string) => {
    metrics.refused(reason);
    log.count(reason, address);
  };
  const budget = new OutputBudget(options.outputBudgetBytes ?? OUTPUT_BUDGET_BYTES);
  const hub = new Hub({
    store: options.store,
    budget,
    searcher: options.searcher,
    version: VERSION,
    password: options.password,
    idleTimeoutMs: limits.idleTimeoutMs,
    maxRate: options.maxRate,
    maxRatePerAddress: options.maxRatePerAddress,
    newIdsPerAddressPerHour: options.newIdsPerAddressPerHour,
    newRoomsPerAddressPerHour: options.newRoomsPerAddressPerHour,
    maxRooms: options.maxRooms,
    log,
    cluster: options.cluster,
  });
  let stopping = false;
  const sessions = new Set<Session>();
  budget.members = () => sessions;
  budget.onCut = (count, tooLong) =>
    log.warn(
      tooLong
        ? "output over budget for too long: cut the connections that held the most"
        : "output over budget: cut connections that had stopped reading",
      { count },
    );
  const sockets = new Set<Socket>();
  const pending = new PendingConnections<Socket>(
    perAddress,
    Date.now,
    (key) => refuse("pending_pushed_out", key),
  );

  const server = createServer({
    cert: options.certChainPem,
    key: options.keyPem,
    ALPNProtocols: [ALPN],
    minVersion: "TLSv1.2",
    handshakeTimeout: limits.handshakeTimeoutMs,
  }, (socket: TLSSocket) => {
    if (stopping) return void socket.destroy();
    const key = addressKey(socket.remoteAddress);
    const session = new Session(
      socket,
      hub,
      limits,
      Date.now,
      budget,
      () => pending.remove(key, session.remote),
      log,
    );
    sessions.add(session);
    session.closed.then(() => sessions.delete(session));
  });
  // every TCP connection, before TLS: the server-wide cap, then its address's pending ones
  server.on("connection", (socket: Socket) => {
    if (stopping) return void socket.destroy();
    const key = addressKey(socket.remoteAddress);
    if (sockets.size >= maxConnections) {
      refuse("server_full", key);
      return void socket.destroy();
    }
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    // another of that address's not-yet-logged-in connections may make room (see pending.ts)
    if (!pending.admit(key, remote, socket)) {
      refuse("pending_refused", key);
      return void socket.destroy();
    }
    log.debug("connection", { address: socket.remoteAddress });
    metrics.connectionsOpen.add(1);
    sockets.add(socket);
    // small frames go out at once: Nagle would hold the welcome for the handshake's delayed ACK
    socket.setNoDelay(true);
    socket.on("close", () => {
      metrics.connectionsOpen.add(-1);
      sockets.delete(socket);
      pending.remove(key, remote);
    });
  });
  // not TLS, a handshake timeout, a refused certificate: nothing to say to it, just let it go
  server.on("tlsClientError", (error: Error, socket: TLSSocket) => {
    const code = (error as { code?: string }).code ?? "";
    // a socket closed during its handshake (by the peer, or pushed out by us) is no TLS error
    if (!CLOSED_CODES.has(code)) {
      const reason = code === "ERR_TLS_HANDSHAKE_TIMEOUT" ? "handshake_timeout" : "tls_error";
      refuse(reason, addressKey(socket.remoteAddress));
    }
    socket.destroy();
  });
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
    budget.enforce();
  }, SWEEP_INTERVAL_MS);
  const summaries = setInterval(() => log.summarize?.(), SUMMARY_INTERVAL_MS);
  const expirer = setInterval(() => hub.tick(), EXPIRY_INTERVAL_MS);

  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  return {
    hub,
    budget,
    addr: { transport: "tcp", hostname: bound.address, port: bound.port },
    finished: done,
    setCertificate(certChainPem, keyPem) {
      server.setSecureContext({ cert: certChainPem, key: keyPem, minVersion: "TLSv1.2" });
    },
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
      clearInterval(summaries);
      log.summarize?.();
      // the others hear this node go (its people leave there at once), then the bus closes
      await hub.cluster?.stop().catch(() => {});
      options.searcher?.close();
      options.store.close();
      finished();
      return done;
    },
  };
}
