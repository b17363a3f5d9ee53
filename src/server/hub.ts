/**
 * The hub: presence, identities, routing and permissions. It owns no sockets and reads no
 * clock of its own — peers and the clock are handed in — so tests drive it with plain objects.
 *
 * Every accepted message follows one path: validate → persist → encode once → fan out → ack.
 */
import { setImmediate } from "node:timers";
import { monotonicFactory } from "ulid";
import { concatFrames, encodeFrame, MAX_FRAME_BYTES } from "../protocol/codec.ts";
import {
  type ClientFrame,
  type Delete,
  ErrorCode,
  type Hello,
  type Limits,
  MAX_RECIPIENTS,
  MAX_SEARCH_RESULTS,
  MAX_TEXT_LENGTH,
  type Search,
  type Send,
  type ServerFrame,
  type User,
} from "../protocol/schema.ts";
import { addressKey } from "./address.ts";
import { ADDRESS_RATE_FACTOR, DEFAULT_NEW_IDS_PER_ADDRESS_PER_HOUR } from "./limits.ts";
import { Backlog, type BacklogSource, planBacklog } from "./backlog.ts";
import { ExpirySchedule } from "./expiry.ts";
import { fitInFrame, messagesInFrame, reply, toFrame } from "./frames.ts";
import { burstFor, RateLimiter } from "./rate.ts";
import { hashToken, newToken, pickId, randomDigits } from "./identity.ts";
import { type Log, silentLog } from "./log.ts";
import * as metrics from "./metrics.ts";
import { PasswordGate } from "./password.ts";
import { InlineSearcher } from "./search/inline.ts";
import type { Searcher } from "./search/searcher.ts";
import { canSee, replyAudience, resolveRecipients } from "./routing.ts";
import { StoreHealth } from "./store/health.ts";
import {
  type Identity,
  type Inserted,
  type NewMessage,
  type Quote,
  quoteOf,
  type Store,
  type TokenMatch,
} from "./store/store.ts";

export { toFrame };

/** Refusals in a row after which a flooding connection is cut. */
export const MAX_RATE_STRIKES = 50;
/** Default sustained messages per second per user. */
export const DEFAULT_MAX_RATE = 10;
/** Searches per minute per user (each one reads everything the user may see), and the burst. */
export const SEARCHES_PER_MINUTE = 20;
export const SEARCH_BURST = 5;
/** Searches per minute from one address, whatever ids it uses, and the burst. */
export const SEARCHES_PER_ADDRESS_PER_MINUTE = 60;
export const SEARCH_ADDRESS_BURST = 15;
const searchLimit = `${SEARCHES_PER_MINUTE} searches a minute`;
const addressLimit = `${SEARCHES_PER_ADDRESS_PER_MINUTE} searches a minute from one address`;
/** What a `message` frame adds to its text: id, sender, time and the JSON around them. */
const FRAME_FIELDS_BYTES = 160;
/** How often idle rate-limit buckets are forgotten. */
const PRUNE_INTERVAL_MS = 60_000;

/** A token presented again this soon after it was rotated away makes a second session. */
export const TOKEN_REUSE_GRACE_MS = 5 * 60_000;
/** Sessions (devices) kept per id; the least recently seen go first. */
export const MAX_SESSIONS_PER_USER = 10;
/** Temporary messages expired per tick at most: a mass expiry is spread over several ticks. */
export const EXPIRIES_PER_TICK = 1_000;
/** After a store failure, how long until an expiry is tried again. */
export const EXPIRY_RETRY_MS = 5_000;

/**
 * Up to this many online, each join and leave is announced by name to everyone. Beyond it,
 * announcing each would cost n² on the wire for n joins, so everyone gets only the online count,
 * at most once per PRESENCE_INTERVAL_MS; names come from `who`.
 */
export const PRESENCE_NAMES_LIMIT = 200;
export const PRESENCE_INTERVAL_MS = 1_000;
/** Most users listed in `welcome` and `users` (the frame cap bounds them anyway). */
export const USERS_LIST_LIMIT = 1_000;

/** Public history a newcomer is shown on joining. */
export const HISTORY_ON_JOIN = 50;
/** Most messages replayed on resume, or direct messages delivered on join. */
export const REPLAY_LIMIT = 10_000;
/** How long the server remembers a request ref, to acknowledge a retried send only once. */
export const SENT_REF_TTL_MS = 24 * 3600_000;
/** How long the server waits without a frame before cutting; clients ping three times as often. */
export const IDLE_TIMEOUT_MS = 45_000;

/** One connection as the hub sees it. */
export interface Peer {
  /** Queues one encoded frame for this connection. Never blocks. */
  send(frame: Uint8Array): void;
  /** Says goodbye and closes. */
  close(reason: string, message: string): void;
  /**
   * Sends a backlog as fast as the connection drains it, reading it from `source` a page at a
   * time and holding live frames until it is done, so a long replay neither trips the queue cap,
   * nor sits in memory, nor lets newer frames overtake older ones. Without it, the hub sends the
   * whole backlog at once.
   */
  replay?(source: BacklogSource): void;
  /** Set by the hub once `hello` succeeded. */
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

export interface HubOptions {
  store: Store;
  /** Runs searches (default: on this thread, for in-memory stores; the server uses a worker). */
  searcher?: Searcher;
  /**
   * The server-wide output budget: messages accepted but not yet fanned out count in it at what
   * they will cost, so senders are paused within the turn that would overfill it.
   */
  budget?: { change(delta: number): void };
  version: string;
  /** The server password, when one is set. */
  password?: string;
  /** Messages per second per user, sustained; 0 turns the limit off. */
  maxRate?: number;
  /** Messages per second from one address, sustained (default ADDRESS_RATE_FACTOR × maxRate); 0: off. */
  maxRatePerAddress?: number;
  /** New ids per hour per address (default DEFAULT_NEW_IDS_PER_ADDRESS_PER_HOUR); 0: no limit. */
  newIdsPerAddressPerHour?: number;
  /** Silence after which a connection is cut (default IDLE_TIMEOUT_MS); told to clients. */
  idleTimeoutMs?: number;
  now?: () => number;
  /**
   * Runs `fn` once the current turn of the event loop is done (setImmediate by default: after
   * the I/O callbacks of this turn, so every socket's frames join one group commit).
   */
  defer?: (fn: () => void) => void;
  /** Runs `fn` after `ms` (setTimeout by default; tests pass a fake). */
  later?: (fn: () => void, ms: number) => void;
  digits?: () => string;
  log?: Log;
}

export class Hub {
  readonly #store: Store;
  readonly #searcher: Searcher;
  readonly #now: () => number;
  readonly #digits: () => string;
  readonly #newId: (time: number) => string;
  readonly #password?: PasswordGate;
  readonly #log: Log;
  readonly #health: StoreHealth;
  readonly #version: string;
  readonly #idleTimeoutMs: number;
  readonly #maxRate: number;
  readonly #maxRatePerAddress: number;
  readonly #later: (fn: () => void, ms: number) => void;
  readonly #sendLimiter?: RateLimiter;
  readonly #sendByAddress?: RateLimiter;
  readonly #newIdsByAddress?: RateLimiter;
  readonly #newIdsPerHour: number;
  readonly #searchLimiter = new RateLimiter(SEARCHES_PER_MINUTE / 60, SEARCH_BURST);
  readonly #searchByAddress = new RateLimiter(
    SEARCHES_PER_ADDRESS_PER_MINUTE / 60,
    SEARCH_ADDRESS_BURST,
  );
  #lastPrune = 0;
  /** Online users by id; one peer per id (a newer login replaces an older one). */
  readonly #online = new Map<string, Peer>();
  /** Messages accepted this turn, waiting for their group commit. */
  #batch: { peer: Peer; ref: string; quote?: Quote; message: NewMessage }[] = [];
  /** What fanning out the batch will cost (bytes), as told to the budget. */
  #batchCost = 0;
  readonly #budget?: { change(delta: number): void };
  readonly #defer: (fn: () => void) => void;
  /** Online ids by lower-cased name, for resolving `@name`. */
  readonly #byName = new Map<string, Set<string>>();
  #countChanged = false;
  #lastCount = 0;
  /** Deadlines of live temporary messages. */
  readonly #expiries = new ExpirySchedule();

  constructor(options: HubOptions) {
    this.#store = options.store;
    this.#searcher = options.searcher ?? new InlineSearcher(options.store);
    this.#budget = options.budget;
    this.#now = options.now ?? Date.now;
    this.#digits = options.digits ?? randomDigits;
    this.#newId = monotonicFactory();
    this.#log = options.log ?? silentLog;
    this.#health = new StoreHealth(this.#log, this.#now);
    this.#version = options.version;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.#maxRate = options.maxRate ?? DEFAULT_MAX_RATE;
    this.#maxRatePerAddress = options.maxRatePerAddress ?? this.#maxRate * ADDRESS_RATE_FACTOR;
    this.#later = options.later ?? ((fn, ms) => void setTimeout(fn, ms));
    this.#defer = options.defer ?? ((fn) => void setImmediate(fn));
    if (this.#maxRate > 0) {
      this.#sendLimiter = new RateLimiter(this.#maxRate, burstFor(this.#maxRate));
    }
    if (this.#maxRatePerAddress > 0) {
      this.#sendByAddress = new RateLimiter(
        this.#maxRatePerAddress,
        burstFor(this.#maxRatePerAddress),
      );
    }
    this.#newIdsPerHour = options.newIdsPerAddressPerHour ?? DEFAULT_NEW_IDS_PER_ADDRESS_PER_HOUR;
    if (this.#newIdsPerHour > 0) {
      this.#newIdsByAddress = new RateLimiter(this.#newIdsPerHour / 3600, this.#newIdsPerHour);
    }
    if (options.password !== undefined) {
      this.#password = new PasswordGate(options.password, this.#now, this.#log);
    }
    for (const { id, expiresAt } of this.#store.pendingExpiries()) {
      this.#expiries.add(id, expiresAt);
    }
    // anything that came due while the server was down goes now
    this.tick();
  }

  /**
   * The periodic work, each part cheap when there is nothing to do: the online count for large
   * rooms, forgetting idle rate-limit state, and expiring due temporary messages. The server
   * calls it every EXPIRY_INTERVAL_MS. A failing store costs a retry later, never the server.
   */
  tick(now = this.#now()): void {
    this.#sendCount(now);
    if (now - this.#lastPrune >= PRUNE_INTERVAL_MS) {
      this.#lastPrune = now;
      this.#prune(now);
    }
    this.#expire(now);
  }

  #prune(now: number): void {
    for (
      const limiter of [
        this.#sendLimiter,
        this.#sendByAddress,
        this.#newIdsByAddress,
        this.#searchLimiter,
        this.#searchByAddress,
      ]
    ) limiter?.prune(now);
    try {
      this.#store.forgetSentRefs(now - SENT_REF_TTL_MS);
    } catch (error) {
      this.#health.failed("forgetting old request refs", error); // tried again next time
    }
  }

  /** Purges due temporary messages (at most EXPIRIES_PER_TICK) and tells their audience. */
  #expire(now: number): void {
    const due = this.#expiries.due(now, EXPIRIES_PER_TICK);
    if (due.length === 0) return;
    let purged;
    try {
      purged = this.#store.purge(due, "expired");
      this.#health.ok();
    } catch (error) {
      this.#health.failed("expiring temporary messages", error);
      for (const id of due) this.#expiries.add(id, now + EXPIRY_RETRY_MS);
      return;
    }
    for (const message of purged) {
      this.#deliver(message, encodeFrame({ type: "deleted", id: message.id, reason: "expired" }));
    }
    if (purged.length > 0) {
      metrics.expiryPurges.add(purged.length);
      this.#log.info("expired", { count: purged.length });
    }
  }

  /** How many temporary messages are waiting to expire. */
  get pendingExpiries(): number {
    return this.#expiries.size;
  }

  get limits(): Limits {
    return {
      maxFrameBytes: MAX_FRAME_BYTES,
      maxTextLength: MAX_TEXT_LENGTH,
      maxRecipients: MAX_RECIPIENTS,
      heartbeatMs: Math.floor(this.#idleTimeoutMs / 3),
      idleTimeoutMs: this.#idleTimeoutMs,
    };
  }

  /** Users online now, in the order they joined (at most `limit`). */
  users(limit = Infinity): User[] {
    const users: User[] = [];
    for (const peer of this.#online.values()) {
      if (users.length >= limit) break;
      users.push(peer.user!);
    }
    return users;
  }

  /** Handles one validated frame from `peer`. */
  handle(peer: Peer, frame: ClientFrame): void {
    if (peer.refused) return;
    if (frame.type === "ping") {
      // before hello it is a health check (chat check): say which server this is
      return reply(
        peer,
        peer.user ? { type: "pong" } : { type: "pong", server: { version: this.#version } },
      );
    }
    if (frame.type === "hello") return this.#hello(peer, frame);
    if (frame.type === "bye") return peer.close("bye", "goodbye");
    const user = peer.user;
    if (!user) {
      return reply(peer, {
        type: "error",
        ref: "ref" in frame ? frame.ref : undefined,
        code: ErrorCode.notReady,
        message: "say hello first: no request is served before a successful hello",
      });
    }
    if (
      (frame.type === "send" || frame.type === "delete") &&
      // per user, and per address: new ids must not buy new bursts
      !(this.#allow(
        peer,
        user.id,
        frame.ref,
        this.#sendLimiter,
        `${this.#maxRate} messages a second`,
      ) &&
        this.#allow(
          peer,
          `@${this.#addressOf(peer)}`,
          frame.ref,
          this.#sendByAddress,
          `${this.#maxRatePerAddress} messages a second from one address`,
        ))
    ) return;
    if (
      frame.type === "search" &&
      // per user, and per address: a new id per connection must not buy a new burst of scans
      !(this.#allow(peer, user.id, frame.ref, this.#searchLimiter, searchLimit) &&
        this.#allow(
          peer,
          `@${this.#addressOf(peer)}`,
          frame.ref,
          this.#searchByAddress,
          addressLimit,
        ))
    ) return;
    switch (frame.type) {
      case "send":
        return this.#send(peer, user, frame);
      case "who": {
        const users = fitInFrame(this.users(USERS_LIST_LIMIT));
        return reply(peer, { type: "users", ref: frame.ref, users, online: this.#online.size });
      }
      case "history": {
        // newest last; if they do not all fit in one frame, the newest ones are kept
        const messages = this.#store.visibleBefore(user.id, frame.before, frame.limit);
        const fitting = messagesInFrame(messages.reverse()).reverse();
        return reply(peer, {
          type: "results",
          ref: frame.ref,
          total: messages.length,
          messages: fitting,
        });
      }
      case "delete":
        return this.#delete(peer, user, frame);
      case "search":
        return this.#search(peer, user, frame);
      case "sessions":
        return this.#sessions(peer, user, frame.ref);
      case "logout_others":
        return this.#logoutOthers(peer, user, frame.ref);
    }
  }

  /** A connection ended (closed, broken or timed out, `reason`): it leaves presence at once. */
  disconnect(peer: Peer, reason?: string): void {
    const user = peer.user;
    if (!user || this.#online.get(user.id) !== peer) return;
    this.#online.delete(user.id);
    this.#byNameRemove(user);
    try {
      this.#store.setLastSeq(user.id, this.#store.latestSeq());
    } catch (error) {
      // only costs them a repeat of direct messages they had seen, on their next join
      this.#health.failed("recording where a leaving user was", error);
    }
    this.#log.info("left", { id: user.id, reason });
    this.#announce({ type: "presence", left: user, online: this.#online.size });
  }

  /** Tells everyone the server is going away (after storing what was accepted). */
  shutdown(message: string): void {
    this.flush();
    for (const peer of [...this.#online.values()]) peer.close("shutdown", message);
  }

  #hello(peer: Peer, hello: Hello): void {
    if (peer.user) {
      return reply(peer, {
        type: "error",
        code: ErrorCode.alreadyHello,
        message: "this connection has already said hello",
      });
    }
    const shown = peer.address ?? "?";
    const refuse = (code: string, reason: string, message: string) => {
      reply(peer, { type: "error", code, message });
      peer.close(reason, message);
    };
    let match: TokenMatch | null = null;
    try {
      match = hello.token ? this.#tokenMatch(hello.name, hello.token, shown) : null;
      if (match?.revoked) {
        this.#log.warn("a revoked token was presented; refused", {
          id: match.identity.id,
          address: shown,
        });
        return refuse(
          ErrorCode.revoked,
          "revoked",
          "this device was signed out from another session (logout-others); " +
            "join again to get a new id",
        );
      }
    } catch (error) {
      this.#log.error("could not look up a token", { cause: (error as Error).message });
      return refuse(
        ErrorCode.unavailable,
        "unavailable",
        "the server cannot read its database just now; try again shortly",
      );
    }
    if (this.#password) {
      const verdict = this.#password.check(
        hello.password,
        this.#addressOf(peer),
        shown,
        match !== null,
      );
      if (!verdict.ok) {
        const { message, delayMs } = verdict;
        if (delayMs === 0) return refuse(ErrorCode.badPassword, "bad_password", message);
        // a wrong guess is answered slowly, and more slowly for each recent one from that address
        peer.refused = true;
        return this.#later(() => refuse(ErrorCode.badPassword, "bad_password", message), delayMs);
      }
    }
    const admitted = match
      ? this.#returning(peer, match, hello.token!)
      : this.#newcomer(peer, hello);
    if ("refusal" in admitted) return refuse(admitted.code, admitted.reason, admitted.refusal);
    const { identity, token, sessionId } = admitted;
    const user: User = { id: identity.id, name: identity.name };
    const previous = this.#online.get(user.id);
    peer.user = user;
    peer.sessionId = sessionId;
    this.#online.set(user.id, peer);
    this.#byNameAdd(user);
    if (previous) {
      // the same person on a new connection: the old one goes quietly, presence does not flicker
      previous.user = undefined;
      previous.close("replaced", "you joined again from another connection");
    }
    reply(peer, {
      type: "welcome",
      you: user,
      token,
      users: this.users(Math.min(USERS_LIST_LIMIT, PRESENCE_NAMES_LIMIT)),
      online: this.#online.size,
      limits: this.limits,
      server: { version: this.#version },
    });
    metrics.logins.add(1, { kind: match ? "returning" : "new" });
    this.#sendBacklog(peer, user.id, identity.lastSeq, hello.resume);
    if (!previous) {
      this.#log.info("joined", {
        id: user.id,
        address: peer.address,
        kind: match ? "returning" : "new",
      });
      this.#announce({ type: "presence", joined: user, online: this.#online.size }, peer);
    }
  }

  /**
   * What a token proves. Its session's current token: that session. The token it replaced,
   * presented again soon after (a lost welcome, or a copy in other hands): a second session, so
   * both show in `sessions` and the owner can revoke the other. Older than that: nothing.
   */
  #tokenMatch(name: string, token: string, shown: string): TokenMatch | null {
    const match = this.#store.sessionByToken(name, hashToken(token));
    if (!match?.previous) return match;
    if (match.rotatedAt !== null && this.#now() - match.rotatedAt <= TOKEN_REUSE_GRACE_MS) {
      this.#log.warn("a replaced token was presented again; it opens a second session", {
        id: match.identity.id,
        address: shown,
      });
      return match;
    }
    this.#log.warn("an old token was presented; refused", {
      id: match.identity.id,
      address: shown,
    });
    return null;
  }

  /** A valid token: the same id, and the token rotated (or the session forked). */
  #returning(peer: Peer, match: TokenMatch, presented: string): Admitted {
    const token = newToken();
    const now = this.#now();
    const address = peer.address ?? "";
    try {
      const sessionId = match.previous
        ? this.#store.createSession(
          match.identity.id,
          hashToken(token),
          now,
          address,
          MAX_SESSIONS_PER_USER,
        )
        : (this.#store.rotateSession(
          match.session.id,
          hashToken(presented),
          hashToken(token),
          now,
          address,
        ),
          match.session.id);
      this.#health.ok();
      return { identity: match.identity, token, sessionId };
    } catch (error) {
      // the store cannot take a new token now: the one presented stays good
      this.#health.failed("rotating a token", error);
      return { identity: match.identity, token: presented, sessionId: match.session.id };
    }
  }

  /** No valid token: a new id, within the address's allowance of new ids. */
  #newcomer(peer: Peer, hello: Hello): Admitted {
    if (this.#newIdsByAddress && !this.#newIdsByAddress.take(this.#addressOf(peer), this.#now())) {
      this.#refused("too_many_ids", peer);
      return {
        code: ErrorCode.rateLimited,
        reason: "too_many_ids",
        refusal: `too many new ids from your address (at most ${this.#newIdsPerHour} an hour); ` +
          "join again from the account that has your id, or try again later",
      };
    }
    const id = pickId(hello.name, (id) => this.#store.canonicalId(id) !== null, this.#digits);
    if (id === null) {
      return {
        code: ErrorCode.full,
        reason: "full",
        refusal: `every id for the name ${hello.name} has been issued; pick another name`,
      };
    }
    const token = newToken();
    const createdAt = this.#now();
    try {
      const sessionId = this.#store.createIdentity(
        { id, name: hello.name, tokenHash: hashToken(token), createdAt },
        peer.address ?? "",
      );
      this.#health.ok();
      return {
        identity: { id, name: hello.name, tokenHash: "", createdAt, lastSeq: 0 },
        token,
        sessionId,
      };
    } catch (error) {
      this.#health.failed("issuing a new id", error);
      return {
        code: ErrorCode.unavailable,
        reason: "unavailable",
        refusal: "the server cannot issue new ids just now (it cannot write to its database); " +
          "try again later",
      };
    }
  }

  /** The backlog of a user who just joined, read page by page as their connection drains. */
  #sendBacklog(peer: Peer, userId: string, lastSeq: number, resume?: string): void {
    let backlog: Backlog;
    try {
      const resumeSeq = resume ? this.#store.seqOf(resume) : null;
      backlog = new Backlog(
        this.#store,
        userId,
        planBacklog(this.#store, userId, {
          resumeSeq,
          lastSeq,
          recent: HISTORY_ON_JOIN,
          limit: REPLAY_LIMIT,
        }),
      );
    } catch (error) {
      this.#log.error("could not read a backlog", {
        id: userId,
        cause: (error as Error).message,
      });
      return reply(peer, {
        type: "error",
        code: ErrorCode.unavailable,
        message: "the server could not read your history just now; it goes on without it",
      });
    }
    if (peer.replay) return peer.replay(backlog);
    for (let frames = backlog.next(); frames; frames = backlog.next()) {
      for (const frame of frames) peer.send(encodeFrame(frame));
    }
  }

  #send(peer: Peer, user: User, frame: Send): void {
    const fail = (code: string, message: string) =>
      reply(peer, { type: "error", ref: frame.ref, code, message });
    // a re-send after a reconnect is looked up first, so it is acknowledged even if it would not
    // pass again (a recipient named @bob who has left); any other repeat is caught at commit
    const already = frame.retry ? this.#store.sentRef(user.id, frame.ref) : null;
    if (already !== null) {
      // a retry after a drop: it was stored (and fanned out) the first time; just acknowledge
      return reply(peer, { type: "ack", ref: frame.ref, id: already, time: this.#now() });
    }
    let to: string[] | undefined;
    let replyTo: string | undefined;
    let quote: Quote | undefined;
    if (frame.replyTo !== undefined) {
      const original = this.#store.message(frame.replyTo);
      if (!original || !canSee(user.id, original)) {
        // the same words whether it never existed or is not yours to see
        return fail(ErrorCode.notFound, "there is no message with that id that you can reply to");
      }
      replyTo = original.id;
      quote = quoteOf(original);
      to = replyAudience(user.id, original);
    } else if (frame.to) {
      // only the online users whose names were typed: a DM costs nothing per person online
      const named = frame.to.flatMap((typed) => [...this.#byName.get(typed.toLowerCase()) ?? []]);
      const online = [...new Set(named)].map((id) => this.#online.get(id)!.user!);
      const resolved = resolveRecipients(frame.to, online, (id) => this.#store.canonicalId(id));
      if (!resolved.ok) return fail(resolved.code, resolved.message);
      to = resolved.ids;
    }
    const time = this.#now();
    this.#batch.push({
      peer,
      ref: frame.ref,
      quote,
      message: {
        id: this.#newId(time),
        from: user.id,
        to,
        text: frame.text,
        time,
        replyTo,
        expiresAt: frame.ttl === undefined ? undefined : time + frame.ttl * 1000,
      },
    });
    // a frame is about its text plus its fields; public ones go to everyone online
    const cost = (frame.text.length + FRAME_FIELDS_BYTES) *
      (to ? to.length + 1 : this.#online.size);
    this.#batchCost += cost;
    this.#budget?.change(cost);
    if (this.#batch.length === 1) this.#defer(() => this.flush());
  }

  /**
   * Group commit: every message accepted in this turn of the event loop is persisted in one
   * transaction, then each is fanned out (encoded once) and acknowledged, in arrival order.
   * Runs by itself; call it to flush at once (shutdown, tests).
   */
  flush(): void {
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    // from now on the connections' queues hold what it costs (reset first: the budget may resume
    // a sender at once, and what it sends then belongs to the next batch)
    const cost = this.#batchCost;
    this.#batchCost = 0;
    this.#budget?.change(-cost);
    let stored: Inserted[];
    const started = performance.now();
    try {
      stored = this.#store.insertMessages(
        batch.map(({ message, ref }) => ({ message, clientRef: ref })),
      );
      this.#health.ok();
      metrics.groupCommitTime.record(performance.now() - started);
      metrics.groupCommitSize.record(batch.length);
    } catch (error) {
      this.#health.failed(`storing ${batch.length} message(s)`, error);
      for (const { peer, ref } of batch) {
        reply(peer, {
          type: "error",
          ref,
          code: ErrorCode.unavailable,
          message:
            "the server could not store that message (it cannot write to its database); nothing was sent",
        });
      }
      return;
    }
    // Consecutive public messages go out as one shared buffer to everyone: encoded once,
    // concatenated once, one write per connection. Their acks follow the run, in order.
    const fanOut = performance.now();
    let delivered = 0;
    let fresh = 0;
    let run: Uint8Array[] = [];
    let acks: number[] = [];
    const endRun = () => {
      if (run.length > 0) {
        const shared = run.length === 1 ? run[0] : concatFrames(run);
        for (const peer of this.#online.values()) peer.send(shared);
        delivered += run.length * this.#online.size;
      }
      for (const i of acks) this.#ack(batch[i], stored[i]);
      run = [];
      acks = [];
    };
    for (let i = 0; i < batch.length; i++) {
      const message = stored[i];
      if ("duplicateOf" in message) {
        acks.push(i); // stored before: acknowledged in its turn, with the first id
        continue;
      }
      fresh++;
      if (message.expiresAt !== undefined) this.#expiries.add(message.id, message.expiresAt);
      const bytes = encodeFrame(toFrame({ ...message, quote: batch[i].quote }));
      if (message.to === undefined) {
        run.push(bytes);
        acks.push(i);
        continue;
      }
      endRun();
      delivered += this.#deliver(message, bytes);
      this.#ack(batch[i], message);
    }
    endRun();
    metrics.messagesStored.add(fresh);
    metrics.deliveries.add(delivered);
    metrics.fanOutTime.record(performance.now() - fanOut);
  }

  #ack(request: { peer: Peer; ref: string }, message: Inserted): void {
    const ack = "duplicateOf" in message
      ? { id: message.duplicateOf, time: this.#now() }
      : { id: message.id, time: message.time };
    reply(request.peer, { type: "ack", ref: request.ref, ...ack });
  }

  #delete(peer: Peer, user: User, frame: Delete): void {
    const tombstone = this.#store.tombstone(frame.id);
    if (tombstone?.purged && tombstone.from === user.id) {
      // the author retrying a delete that already happened (or an expiry that beat it): done
      return reply(peer, { type: "ack", ref: frame.ref, id: frame.id, time: this.#now() });
    }
    const message = this.#store.message(frame.id);
    if (!message || !canSee(user.id, message)) {
      return reply(peer, {
        type: "error",
        ref: frame.ref,
        code: ErrorCode.notFound,
        message: "there is no message with that id that you can delete",
      });
    }
    if (message.from !== user.id) {
      return reply(peer, {
        type: "error",
        ref: frame.ref,
        code: ErrorCode.forbidden,
        message: "only its author can delete a message",
      });
    }
    let purged;
    try {
      purged = this.#store.purge([message.id], "deleted");
      this.#health.ok();
    } catch (error) {
      this.#health.failed("deleting a message", error);
      return reply(peer, {
        type: "error",
        ref: frame.ref,
        code: ErrorCode.unavailable,
        message:
          "the server could not delete that message (it cannot write to its database); try again later",
      });
    }
    for (const gone of purged) {
      this.#deliver(gone, encodeFrame({ type: "deleted", id: gone.id, reason: "deleted" }));
    }
    reply(peer, { type: "ack", ref: frame.ref, id: message.id, time: this.#now() });
  }

  /**
   * Search runs off the event loop (a worker with its own connection to the database): the
   * answer comes when it is done, and the searcher keeps its own bounds (pattern size, time,
   * one at a time per user, a short queue).
   */
  #search(peer: Peer, user: User, frame: Search): void {
    const request = { userId: user.id, pattern: frame.pattern, limit: MAX_SEARCH_RESULTS };
    this.#searcher.search(request).then((outcome) => {
      if (!outcome.ok) {
        const { code, message } = outcome;
        return reply(peer, { type: "error", ref: frame.ref, code, message });
      }
      const messages = messagesInFrame(outcome.messages);
      reply(peer, { type: "results", ref: frame.ref, total: outcome.total, messages });
    }, (error) => {
      this.#log.error("a search failed", { cause: (error as Error)?.message });
      reply(peer, {
        type: "error",
        ref: frame.ref,
        code: ErrorCode.internal,
        message: "the server failed on that search; try again later",
      });
    });
  }

  #sessions(peer: Peer, user: User, ref: string): void {
    const sessions = this.#store.sessions(user.id).map((s) => ({
      id: s.id,
      current: s.id === peer.sessionId,
      createdAt: s.createdAt,
      lastSeenAt: s.lastSeenAt,
      address: s.address,
    }));
    reply(peer, { type: "sessions", ref, sessions: fitInFrame(sessions) });
  }

  #logoutOthers(peer: Peer, user: User, ref: string): void {
    if (peer.sessionId === undefined) return this.#sessions(peer, user, ref);
    try {
      const revoked = this.#store.revokeOtherSessions(user.id, peer.sessionId, this.#now());
      this.#health.ok();
      this.#log.info("sessions revoked", { id: user.id, count: revoked, address: peer.address });
    } catch (error) {
      this.#health.failed("revoking sessions", error);
      return reply(peer, {
        type: "error",
        ref,
        code: ErrorCode.unavailable,
        message: "the server could not revoke your other sessions just now; try again later",
      });
    }
    this.#sessions(peer, user, ref);
  }

  /** Sends one encoded frame to everyone online who may see `message`; returns to how many. */
  #deliver(message: { from: string; to?: readonly string[] }, bytes: Uint8Array): number {
    if (message.to === undefined) {
      for (const peer of this.#online.values()) peer.send(bytes);
      return this.#online.size;
    }
    let count = 0;
    for (const id of new Set([message.from, ...message.to])) {
      const peer = this.#online.get(id);
      if (peer) {
        peer.send(bytes);
        count++;
      }
    }
    return count;
  }

  /** A refusal a client can cause at will: counted (metric, log summary), not a line each. */
  #refused(reason: string, peer: Peer): void {
    metrics.refused(reason);
    this.#log.count(reason, this.#addressOf(peer));
  }

  /** The key a peer's per-address limits count under (IPv6: its /64). */
  #addressOf(peer: Peer): string {
    return addressKey(peer.address);
  }

  /** Rate limit: false (and the peer told, or cut when it keeps on) when over the limit. */
  #allow(
    peer: Peer,
    key: string,
    ref: string,
    limiter: RateLimiter | undefined,
    limit: string,
  ): boolean {
    if (!limiter || limiter.take(key, this.#now())) {
      peer.strikes = 0;
      return true;
    }
    peer.strikes = (peer.strikes ?? 0) + 1;
    if (peer.strikes >= MAX_RATE_STRIKES) {
      // what it sent before the flood is stored and acknowledged before it is cut
      this.flush();
      metrics.refused("flood");
      this.#log.warn("cut for flooding", { id: peer.user?.id, address: peer.address });
      peer.close("flood", "too many messages too fast; disconnected");
      return false;
    }
    this.#refused("rate_limited", peer);
    reply(peer, {
      type: "error",
      ref,
      code: ErrorCode.rateLimited,
      message: `slow down: at most ${limit}; that request was refused`,
    });
    return false;
  }

  /**
   * A join or leave: by name while the room is small; in a large one only the count changes,
   * and the tick sends it to everyone at most once per interval.
   */
  #announce(frame: ServerFrame & { type: "presence" }, except?: Peer): void {
    if (this.#online.size <= PRESENCE_NAMES_LIMIT) return this.#broadcast(frame, except);
    this.#countChanged = true;
  }

  #byNameAdd(user: User): void {
    const key = user.name.toLowerCase();
    const ids = this.#byName.get(key);
    if (ids) ids.add(user.id);
    else this.#byName.set(key, new Set([user.id]));
  }

  #byNameRemove(user: User): void {
    const key = user.name.toLowerCase();
    const ids = this.#byName.get(key);
    ids?.delete(user.id);
    if (ids?.size === 0) this.#byName.delete(key);
  }

  /** Sends the online count if it changed (large rooms); called by tick. */
  #sendCount(now: number): void {
    if (!this.#countChanged || now - this.#lastCount < PRESENCE_INTERVAL_MS) return;
    this.#countChanged = false;
    this.#lastCount = now;
    this.#broadcast({ type: "presence", online: this.#online.size });
  }

  #broadcast(frame: ServerFrame, except?: Peer): void {
    const bytes = encodeFrame(frame);
    for (const peer of this.#online.values()) if (peer !== except) peer.send(bytes);
  }
}

/** How a `hello` was admitted, or why not. */
type Admitted =
  | { identity: Identity; token: string; sessionId: string }
  | { code: string; reason: string; refusal: string };
