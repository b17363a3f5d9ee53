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
  CommitShorthands,
  type Identity,
  IdTakenError,
  type ModlogRow,
  type NewModlogEntry,
  type Purge,
  type PurgeRange,
  type RestrictionKind,
  type Session,
  type Store,
  type StoredMessage,
  type StoredRestriction,
  type StoredRoom,
  StoreUnavailableError,
  type TokenMatch,
  type Tombstone,
  type Write,
  type Written,
} from "./store.ts";
import type { CommitRecord, Committed, OpName } from "./postgres_ops.ts";
import { toMessage } from "./rows.ts";
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

export interface PostgresStoreOptions {
  readTimeoutMs?: number;
  writeTimeoutMs?: number;
  openTimeoutMs?: number;
  vacuumIntervalMs?: number;
  /** The worker's module (the bundle); by default found from this module's URL. */
  workerUrl?: string | URL;
}

export { isPostgresUrl } from "./postgres_bridge.ts";

export class PostgresStore extends CommitShorthands implements Store {
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

  canonicalId(id: string): string | null {
    return this.#call("canonicalId", [id]);
  }

  createIdentity(identity: Omit<Identity, "lastSeq">, address = ""): string {
    return this.#call("createIdentity", [identity, address]);
  }

  identity(id: string): Identity | null {
    return this.#call("identity", [id]);
  }

  identityByToken(name: string, tokenHash: string): Identity | null {
    const match = this.sessionByToken(name, tokenHash);
    return match && !match.previous ? match.identity : null;
  }

  sessionByToken(name: string, tokenHash: string): TokenMatch | null {
    return this.#call("sessionByToken", [name, tokenHash]);
  }

  rotateSession(
    sessionId: string,
    presentedHash: string,
    tokenHash: string,
    now: number,
    address: string,
  ): void {
    this.#call("rotateSession", [sessionId, presentedHash, tokenHash, now, address]);
  }

  createSession(
    userId: string,
    tokenHash: string,
    now: number,
    address: string,
    keep: number,
  ): string {
    return this.#call("createSession", [userId, tokenHash, now, address, keep]);
  }

  sessions(userId: string): Session[] {
    return this.#call("sessions", [userId]);
  }

  revokeOtherSessions(userId: string, keepSessionId: string, now: number): number {
    return this.#call("revokeOtherSessions", [userId, keepSessionId, now]);
  }

  setLastSeq(id: string, seq: number): void {
    this.#call("setLastSeq", [id, seq]);
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

  /** The number of the newest commit of any node (0 before any). */
  latestCommitNo(): number {
    return this.#call("latestCommitNo", []);
  }

  /**
   * Every commit after `commitNo`, in order, at most `limit`: the messages each stored (with
   * quotes, as messagesAfter reads them) and the purges it made. A message purged since comes
   * back as a purge leaves it, text "" (its purge is in a later commit); one whose room was
   * dropped since is not there at all. A commit that stored and purged nothing has empty lists.
   */
  commitsAfter(commitNo: number, limit: number): CommitRecord[] {
    return this.#call("commitsAfter", [commitNo, limit]);
  }

  sentRef(userId: string, ref: string): string | null {
    return this.#call("sentRef", [userId, ref]);
  }

  forgetSentRefs(before: number): void {
    this.#call("forgetSentRefs", [before]);
  }

  tombstone(id: string): Tombstone | null {
    return this.#call("tombstone", [id]);
  }

  seqOf(id: string): number | null {
    return this.#call("seqOf", [id]);
  }

  messagesAfter(
    userId: string,
    after: number,
    upto: number,
    limit: number,
    directOnly = false,
  ): StoredMessage[] {
    return this.#call("messagesAfter", [userId, after, upto, limit, directOnly]);
  }

  newestStart(
    userId: string,
    after: number,
    upto: number,
    keep: number,
    directOnly = false,
  ): number | null {
    return this.#call("newestStart", [userId, after, upto, keep, directOnly]);
  }

  purgesAfter(userId: string, range: PurgeRange, limit: number): Purge[] {
    return this.#call("purgesAfter", [userId, range, limit]);
  }

  message(id: string): StoredMessage | null {
    return this.#call("message", [id]);
  }

  visibleBefore(
    userId: string,
    beforeId: string | undefined,
    limit: number,
    room?: string,
  ): StoredMessage[] {
    return this.#call("visibleBefore", [userId, beforeId, limit, room]);
  }

  visibleMessage(userId: string, id: string): StoredMessage | null {
    return this.#call("visibleMessage", [userId, id]);
  }

  pendingExpiries(): { id: string; expiresAt: number }[] {
    return this.#call("pendingExpiries", []);
  }

  /**
   * Reads the messages `userId` may see a page of seqs at a time, newest first, and matches them
   * here: `matches` cannot go to the worker (and no pattern ever runs in PostgreSQL). The
   * server searches through a PostgresSearcher instead, off this thread.
   */
  search(
    userId: string,
    matches: (text: string) => boolean,
    limit: number,
    room?: string,
  ): { total: number; messages: StoredMessage[] } {
    let total = 0;
    const messages: StoredMessage[] = [];
    let before = this.latestSeq() + 1;
    while (before > 1) {
      const from = Math.max(1, before - SEARCH_PAGE_ROWS);
      const rows = this.#call<Record<string, unknown>[]>("searchPage", [
        userId,
        room ?? null,
        before,
        from,
      ]);
      for (const row of rows) {
        if (!matches(row.text as string)) continue;
        total++;
        if (messages.length < limit) messages.push(toMessage(row));
      }
      before = from;
    }
    return { total, messages };
  }

  latestSeq(): number {
    return this.#call("latestSeq", []);
  }

  rooms(): StoredRoom[] {
    return this.#call("rooms", []);
  }

  roomsOf(userId: string): string[] {
    return this.#call("roomsOf", [userId]);
  }

  isMember(userId: string, room: string): boolean {
    return this.#call("isMember", [userId, room]);
  }

  joinRoom(userId: string, room: string, now: number, create?: { private: boolean }): void {
    this.#call("joinRoom", [userId, room, now, create]);
  }

  partRoom(userId: string, room: string): void {
    this.#call("partRoom", [userId, room]);
  }

  setTopic(room: string, topic: string, by: string, now: number): void {
    this.#call("setTopic", [room, topic, by, now]);
  }

  setPrivate(room: string, isPrivate: boolean): void {
    this.#call("setPrivate", [room, isPrivate]);
  }

  isOperator(userId: string, room: string): boolean {
    return this.#call("isOperator", [userId, room]);
  }

  invite(room: string, userId: string, by: string, now: number, keep: number): void {
    this.#call("invite", [room, userId, by, now, keep]);
  }

  isInvited(userId: string, room: string): boolean {
    return this.#call("isInvited", [userId, room]);
  }

  dropRoom(room: string): boolean {
    return this.#call("dropRoom", [room]);
  }

  droppedRooms(): string[] {
    return this.#call("droppedRooms", []);
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

  isServerOperator(userId: string): boolean {
    return this.#call("isServerOperator", [userId]);
  }

  serverOperators(): string[] {
    return this.#call("serverOperators", []);
  }

  addServerOperator(userId: string, now: number): boolean {
    return this.#call("addServerOperator", [userId, now]);
  }

  removeServerOperator(userId: string): boolean {
    return this.#call("removeServerOperator", [userId]);
  }

  roomCreator(room: string): string | null {
    return this.#call("roomCreator", [room]);
  }

  roomOperators(room: string): string[] {
    return this.#call("roomOperators", [room]);
  }

  addRoomOperator(room: string, userId: string, keep: number): boolean {
    return this.#call("addRoomOperator", [room, userId, keep]);
  }

  removeRoomOperator(room: string, userId: string): boolean {
    return this.#call("removeRoomOperator", [room, userId]);
  }

  restrict(restriction: StoredRestriction, keep: number): boolean {
    return this.#call("restrict", [restriction, keep]);
  }

  lift(kind: RestrictionKind, scope: string, target: string, now: number): boolean {
    return this.#call("lift", [kind, scope, target, now]);
  }

  restriction(
    kind: RestrictionKind,
    scope: string,
    target: string,
    now: number,
  ): StoredRestriction | null {
    return this.#call("restriction", [kind, scope, target, now]);
  }

  restrictionsOf(target: string, kind: RestrictionKind, now: number): StoredRestriction[] {
    return this.#call("restrictionsOf", [target, kind, now]);
  }

  restrictions(
    scope: string,
    now: number,
    offset: number,
    limit: number,
  ): { total: number; restrictions: StoredRestriction[] } {
    return this.#call("restrictions", [scope, now, offset, limit]);
  }

  pruneRestrictions(now: number, limit: number): number {
    return this.#call("pruneRestrictions", [now, limit]);
  }

  logModeration(entry: NewModlogEntry, keep: number): number {
    return this.#call("logModeration", [entry, keep]);
  }

  modlog(room: string | undefined, before: number | undefined, limit: number): ModlogRow[] {
    return this.#call("modlog", [room, before, limit]);
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
