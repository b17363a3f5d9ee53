/**
 * The store on PostgreSQL, for several servers sharing one database. The Store interface stays
 * synchronous ("persist, then fan out, then ack" is a straight line of code), so this is a thin
 * synchronous facade: postgres.js runs in a worker thread (postgres_worker_main.ts, the SQL in
 * postgres_ops.ts), and each call posts a request there and blocks this thread in Atomics.wait
 * until the answer is posted back, or its timeout passes: 20-40 µs a call besides the SQL
 * (tests/pg_store_test.ts prints it). The worker runs requests one at a time, in order.
 *
 * A timeout or a PostgreSQL failure throws an Error with one sentence saying so (StoreHealth
 * treats it as a failing disk). A call that timed out before the worker started it is never run;
 * one that timed out while running (a write, say) may still complete: its answer is discarded.
 */
import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  Worker,
} from "node:worker_threads";
import {
  IdTakenError,
  type Store,
  StoreUnavailableError,
  type Write,
  type Written,
} from "./store.ts";
import type { Committed, Ctx, OpName, OPS } from "./postgres_ops.ts";
import type { Row } from "./rows.ts";
import { StoreBase } from "./base.ts";
import {
  type Answer,
  type Control,
  POSTGRES_WORKER_NAME,
  type PostgresWorkerData,
  type Request,
  safeAddress,
} from "./postgres_bridge.ts";

/** How long a read may take before the call throws. */
export const PG_READ_TIMEOUT_MS = 2_000;
/** How long a write (a commit, a transaction's end) may take before the call throws. */
export const PG_WRITE_TIMEOUT_MS = 5_000;
/** How long opening may take: the worker loads, connects, creates the schema. */
export const PG_OPEN_TIMEOUT_MS = 15_000;
/** At most one VACUUM of the messages table this often, after commits that purged text. */
export const PG_VACUUM_INTERVAL_MS = 10_000;
/**
 * Once a call has timed out, calls are refused at once (a server waiting 2 s per call would be
 * frozen for everyone) until a ping, sent in the background at most this often, is answered.
 */
export const PG_PROBE_INTERVAL_MS = 250;
/** Seqs per page when Store.search reads messages to match on this thread. */
const SEARCH_PAGE_ROWS = 200;

/** The operations that read only: they get the shorter timeout. */
const READS = new Set<string>([
  "canonicalId",
  "identity",
  "sessionByToken",
  "sessions",
  "message",
  "seqOf",
  "messagesAfter",
  "newestStart",
  "purgesAfter",
  "visibleBefore",
  "visibleMessage",
  "sentRef",
  "tombstone",
  "pendingExpiries",
  "searchPage",
  "latestSeq",
  "latestCommitNo",
  "commitsAfter",
  "rooms",
  "roomsOf",
  "isMember",
  "isOperator",
  "isInvited",
  "droppedRooms",
  "isServerOperator",
  "serverOperators",
  "roomCreator",
  "roomOperators",
  "restriction",
  "restrictionsOf",
  "restrictions",
  "modlog",
]);

/**
 * The operations that are a Store method (or one of PostgresStore's own) of the same name and
 * arguments, forwarded as they are: the class gets each as a method (see its static block), typed
 * from the operation itself, so that `implements Store` checks each against the interface.
 */
const FORWARDED = [
  "canonicalId",
  "createIdentity",
  "identity",
  "sessionByToken",
  "rotateSession",
  "createSession",
  "sessions",
  "revokeOtherSessions",
  "setLastSeq",
  "latestCommitNo",
  "commitsAfter",
  "sentRef",
  "forgetSentRefs",
  "tombstone",
  "seqOf",
  "messagesAfter",
  "newestStart",
  "purgesAfter",
  "message",
  "visibleBefore",
  "visibleMessage",
  "pendingExpiries",
  "latestSeq",
  "rooms",
  "roomsOf",
  "isMember",
  "joinRoom",
  "partRoom",
  "setTopic",
  "setPrivate",
  "isOperator",
  "invite",
  "isInvited",
  "dropRoom",
  "droppedRooms",
  "isServerOperator",
  "serverOperators",
  "addServerOperator",
  "removeServerOperator",
  "roomCreator",
  "roomOperators",
  "addRoomOperator",
  "removeRoomOperator",
  "restrict",
  "lift",
  "restriction",
  "restrictionsOf",
  "restrictions",
  "pruneRestrictions",
  "logModeration",
  "modlog",
] as const satisfies readonly OpName[];

/** An operation as the facade offers it: its arguments after the context, its answer awaited. */
type Forwarded = {
  [K in typeof FORWARDED[number]]: typeof OPS[K] extends (c: Ctx, ...args: infer A) => infer R
    ? (...args: A) => Awaited<R>
    : never;
};

export interface PostgresStoreOptions {
  readTimeoutMs?: number;
  writeTimeoutMs?: number;
  openTimeoutMs?: number;
  vacuumIntervalMs?: number;
  /** The worker's module (the bundle); by default found from this module's URL. */
  workerUrl?: string | URL;
}

export { isPostgresUrl } from "./postgres_bridge.ts";

/** The forwarded methods, which the class's static block defines. */
export interface PostgresStore extends Forwarded {}

export class PostgresStore extends StoreBase implements Store {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #signal: Int32Array;
  readonly #where: string;
  readonly #readTimeoutMs: number;
  readonly #writeTimeoutMs: number;
  #nextId = 1;
  #inTransaction = false;
  #closed = false;
  /** Set when a call timed out: calls fail at once until a ping is answered. */
  #down?: { probe: number | undefined; probedAt: number };
  /**
   * The number of the last commit() this instance made (0 before any). Inside `atomically`, it is
   * known before the transaction ends: the commit is only durable once that returns.
   */
  lastCommitNo = 0;

  static {
    for (const op of FORWARDED) {
      Object.defineProperty(this.prototype, op, {
        value(this: PostgresStore, ...args: unknown[]) {
          return this.#call(op, args);
        },
        writable: true,
        configurable: true,
      });
    }
  }

  /** Connects to `url` and creates the schema if needed; throws when it cannot. */
  constructor(url: string, options: PostgresStoreOptions = {}) {
    super();
    this.#where = safeAddress(url);
    this.#readTimeoutMs = options.readTimeoutMs ?? PG_READ_TIMEOUT_MS;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? PG_WRITE_TIMEOUT_MS;
    const signal = new SharedArrayBuffer(4);
    this.#signal = new Int32Array(signal);
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    const workerData: PostgresWorkerData = {
      name: POSTGRES_WORKER_NAME,
      url,
      port: port2,
      signal,
      vacuumIntervalMs: options.vacuumIntervalMs ?? PG_VACUUM_INTERVAL_MS,
    };
    this.#worker = new Worker(options.workerUrl ?? defaultWorkerUrl(), {
      workerData,
      transferList: [port2],
    });
    // neither keeps the process alive: close() is what ends a store
    this.#worker.unref();
    this.#port.unref();
    try {
      this.#call("open", [], options.openTimeoutMs ?? PG_OPEN_TIMEOUT_MS);
    } catch (error) {
      this.#worker.terminate();
      this.#closed = true;
      throw error;
    }
  }

  /**
   * Posts a request and blocks until its answer (or the timeout). Answers to earlier calls that
   * timed out are read and dropped on the way.
   */
  /**
   * While PostgreSQL is taken for down: whether the background ping was answered (then it is up
   * again); sends a new ping when none is out, or the last went unanswered for a read's timeout.
   */
  #answeredAgain(): boolean {
    const down = this.#down!;
    for (let got = receiveMessageOnPort(this.#port); got; got = receiveMessageOnPort(this.#port)) {
      const answer = got.message as Answer;
      if (answer.id !== down.probe) continue;
      down.probe = undefined;
      if (answer.ok) {
        this.#down = undefined;
        return true;
      }
    }
    const now = performance.now();
    const stale = down.probe !== undefined && now - down.probedAt > this.#readTimeoutMs;
    if ((down.probe === undefined || stale) && now - down.probedAt >= PG_PROBE_INTERVAL_MS) {
      down.probe = this.#nextId++;
      down.probedAt = now;
      const request: Request = {
        id: down.probe,
        op: "ping",
        args: [],
        deadline: Date.now() + this.#readTimeoutMs,
      };
      this.#port.postMessage(request);
    }
    return false;
  }

  #call<T>(op: OpName | Control, args: unknown[], timeoutMs?: number): T {
    if (this.#closed) throw new Error("the PostgreSQL store is closed");
    if (this.#down && op !== "close" && !this.#answeredAgain()) {
      // what a transaction began must still end, whenever PostgreSQL answers again
      if (op === "rollback") this.#post("rollback");
      throw new StoreUnavailableError(
        `PostgreSQL at ${this.#where} is not answering; requests are refused until it does`,
      );
    }
    const ms = timeoutMs ?? (READS.has(op) ? this.#readTimeoutMs : this.#writeTimeoutMs);
    const id = this.#nextId++;
    let seen = Atomics.load(this.#signal, 0);
    const request: Request = { id, op, args, deadline: Date.now() + ms };
    this.#port.postMessage(request);
    const deadline = performance.now() + ms;
    for (;;) {
      for (
        let got = receiveMessageOnPort(this.#port);
        got;
        got = receiveMessageOnPort(this.#port)
      ) {
        const answer = got.message as Answer;
        if (answer.id !== id) continue;
        if (answer.ok) return answer.value as T;
        if (answer.idTaken) throw new IdTakenError((args[0] as { id: string }).id);
        throw new StoreUnavailableError(answer.message);
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        this.#down = { probe: undefined, probedAt: 0 };
        throw new StoreUnavailableError(
          `PostgreSQL at ${this.#where} did not answer within ${ms} ms (${op})`,
        );
      }
      Atomics.wait(this.#signal, 0, seen, left);
      seen = Atomics.load(this.#signal, 0);
    }
  }

  /** A round trip to the worker and back, without SQL: what the bridge itself costs. */
  ping(): void {
    this.#call("ping", [], this.#readTimeoutMs);
  }

  /**
   * The group commit, serialized with every other node's (see postgres_ops.ts).
   *
   * A purge is weaker here than in SqliteStore (tests/pg_store_test.ts shows it): the UPDATE
   * leaves the old row version, text included (a TOASTed long one too), in the table's files
   * until the VACUUM the worker runs after the commit (at most every PG_VACUUM_INTERVAL_MS;
   * a transaction open elsewhere that may still see the row defers it to the next), and then
   * until the next checkpoint writes the pages. PostgreSQL's WAL keeps the text until its
   * segment is reused and overwritten (recycled segments keep their old bytes meanwhile), and
   * archived WAL or replicas, if the operator keeps them, keep it for good.
   */
  commit(writes: readonly Write[]): Written[] {
    const committed = this.#call<Committed>("commit", [writes]);
    if (committed.commitNo !== null) this.lastCommitNo = committed.commitNo;
    return committed.results;
  }

  /**
   * For `search`: the messages `userId` may see, read a page of seqs at a time, newest first, and
   * matched here: `matches` cannot go to the worker (and no pattern ever runs in PostgreSQL). The
   * server searches through a PostgresSearcher instead, off this thread.
   */
  protected *searchRows(userId: string, room: string | undefined): Iterable<Row> {
    let before = this.latestSeq() + 1;
    while (before > 1) {
      const from = Math.max(1, before - SEARCH_PAGE_ROWS);
      yield* this.#call<Row[]>("searchPage", [userId, room ?? null, before, from]);
      before = from;
    }
  }

  /**
   * Runs `fn` in one transaction on one connection, held for it: all its writes or none. Within
   * one already open, `fn` is part of it (as in SqliteStore).
   */
  atomically<T>(fn: () => T): T {
    if (this.#inTransaction) return fn();
    try {
      this.#call("begin", []);
    } catch (error) {
      // should the BEGIN still complete, the worker must not keep the transaction open
      this.#post("rollback");
      throw error;
    }
    this.#inTransaction = true;
    try {
      const result = fn();
      this.#call("commitTx", []);
      return result;
    } catch (error) {
      try {
        this.#call("rollback", []);
      } catch {
        // the first error says what went wrong
      }
      throw error;
    } finally {
      this.#inTransaction = false;
    }
  }

  /** Posts a control request without waiting for its answer. */
  #post(op: Control): void {
    const request: Request = {
      id: this.#nextId++,
      op,
      args: [],
      deadline: Date.now() + this.#writeTimeoutMs,
    };
    this.#port.postMessage(request);
  }

  /** Ends the worker's connections (briefly waiting for them), then the worker. */
  close(): void {
    if (this.#closed) return;
    try {
      this.#call("close", []);
    } catch {
      // terminated below all the same
    }
    this.#closed = true;
    this.#port.close();
    this.#worker.terminate();
  }
}

/**
 * From source (or a compiled binary) the worker is postgres_worker.ts beside this module; in the
 * bundle this code sits in one of its chunks, and the bundle's entry (Deno.mainModule) is started
 * again as the worker (src/main.ts recognizes it by its workerData).
 */
function defaultWorkerUrl(): URL {
  return import.meta.url.endsWith(".ts")
    ? new URL("./postgres_worker.ts", import.meta.url)
    : new URL(Deno.mainModule);
}
