/**
 * The hub: presence, identities, routing and permissions. It owns no sockets and reads no
 * clock of its own — peers and the clock are handed in — so tests drive it with plain objects.
 *
 * Every accepted message follows one path: validate → persist → encode once → fan out → ack.
 */
import { timingSafeEqual } from "node:crypto";
import { setImmediate } from "node:timers";
import { RE2JS } from "re2js";
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
  type Message,
  type Search,
  type Send,
  type ServerFrame,
  type User,
} from "../protocol/schema.ts";
import { ExpirySchedule } from "./expiry.ts";
import { burstFor, RateLimiter } from "./rate.ts";
import { hashToken, newToken, pickId, randomDigits } from "./identity.ts";
import { canSee, replyAudience, resolveRecipients } from "./routing.ts";
import {
  type Inserted,
  type NewMessage,
  type Quote,
  quoteOf,
  type Store,
  type StoredMessage,
} from "./store/store.ts";

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
/** How often idle rate-limit buckets are forgotten. */
const PRUNE_INTERVAL_MS = 60_000;

/**
 * Delay before a wrong password is answered; doubles with each failure from one address. Until
 * it has passed, no password from that address is looked at.
 */
export const PASSWORD_DELAY_MS = 1_000;
export const MAX_PASSWORD_DELAY_MS = 30_000;
/** Failures from an address are forgotten after this long without one. */
export const PASSWORD_FAILURE_MEMORY_MS = 10 * 60_000;
/** Addresses with failures remembered before the forgotten ones are swept out. */
export const MAX_PASSWORD_ADDRESSES = 10_000;

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
   * Sends a backlog as fast as the connection drains it, holding live frames until it is done,
   * so a long replay neither trips the queue cap nor lets newer frames overtake older ones.
   * Without it, the hub sends the backlog frame by frame.
   */
  replay?(frames: readonly ServerFrame[]): void;
  /** Set by the hub once `hello` succeeded. */
  user?: User;
  /** The peer's network address, for per-address limits (wrong passwords). */
  address?: string;
  /** Set while a refusal is being delayed: nothing more is heard from this peer. */
  refused?: boolean;
  /** Requests refused in a row for going too fast. */
  strikes?: number;
}

export interface HubOptions {
  store: Store;
  version: string;
  /** The server password, when one is set. */
  password?: string;
  /** Messages per second per user, sustained; 0 turns the limit off. */
  maxRate?: number;
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
  log?: (line: string) => void;
}

export class Hub {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #digits: () => string;
  readonly #newId: (time: number) => string;
  readonly #password?: Uint8Array;
  readonly #log: (line: string) => void;
  readonly #version: string;
  readonly #idleTimeoutMs: number;
  readonly #maxRate: number;
  readonly #later: (fn: () => void, ms: number) => void;
  /** Wrong passwords by address: how many, and the last one's time. */
  readonly #passwordFailures = new Map<
    string,
    { count: number; last: number; until: number }
  >();
  readonly #sendLimiter?: RateLimiter;
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
  readonly #defer: (fn: () => void) => void;
  /** Online ids by lower-cased name, for resolving `@name`. */
  readonly #byName = new Map<string, Set<string>>();
  #countChanged = false;
  #lastCount = 0;
  /** Deadlines of live temporary messages. */
  readonly #expiries = new ExpirySchedule();

  constructor(options: HubOptions) {
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    this.#digits = options.digits ?? randomDigits;
    this.#newId = monotonicFactory();
    this.#log = options.log ?? (() => {});
    this.#version = options.version;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.#maxRate = options.maxRate ?? DEFAULT_MAX_RATE;
    this.#later = options.later ?? ((fn, ms) => void setTimeout(fn, ms));
    this.#defer = options.defer ?? ((fn) => void setImmediate(fn));
    if (this.#maxRate > 0) {
      this.#sendLimiter = new RateLimiter(this.#maxRate, burstFor(this.#maxRate));
    }
    if (options.password !== undefined) {
      this.#password = new TextEncoder().encode(hashToken(options.password));
    }
    for (const { id, expiresAt } of this.#store.pendingExpiries()) {
      this.#expiries.add(id, expiresAt);
    }
    // anything that came due while the server was down goes now
    this.tick();
  }

  /**
   * Expires every temporary message whose deadline has passed: purged from the store, then
   * everyone who received it is told. Cheap when nothing is due; call it often (the server's
   * sweeper does, every second).
   */
  tick(now = this.#now()): void {
    this.#sendCount(now);
    if (now - this.#lastPrune >= PRUNE_INTERVAL_MS) {
      this.#lastPrune = now;
      this.#sendLimiter?.prune(now);
      this.#searchLimiter.prune(now);
      this.#searchByAddress.prune(now);
      this.#store.forgetSentRefs(now - SENT_REF_TTL_MS);
    }
    const due = this.#expiries.due(now);
    if (due.length === 0) return;
    for (const message of this.#store.purge(due, "expired")) {
      this.#deliver(message, encodeFrame({ type: "deleted", id: message.id, reason: "expired" }));
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
    if (frame.type === "ping") return reply(peer, { type: "pong" });
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
      !this.#allow(
        peer,
        user.id,
        frame.ref,
        this.#sendLimiter,
        `${this.#maxRate} messages a second`,
      )
    ) return;
    if (
      frame.type === "search" &&
      // per user, and per address: a new id per connection must not buy a new burst of scans
      !(this.#allow(peer, user.id, frame.ref, this.#searchLimiter, searchLimit) &&
        this.#allow(peer, `@${peer.address}`, frame.ref, this.#searchByAddress, addressLimit))
    ) return;
    switch (frame.type) {
      case "send":
        return this.#send(peer, user, frame);
      case "who":
        return reply(peer, {
          type: "users",
          ref: frame.ref,
          users: this.users(USERS_LIST_LIMIT),
          online: this.#online.size,
        });
      case "history": {
        // newest last; if they do not all fit in one frame, the newest ones are kept
        const messages = this.#store.visibleBefore(user.id, frame.before, frame.limit);
        const fitting = fitInFrame(messages.reverse()).reverse();
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
    }
  }

  /** A connection ended (closed, broken or timed out): it leaves presence at once. */
  disconnect(peer: Peer): void {
    const user = peer.user;
    if (!user || this.#online.get(user.id) !== peer) return;
    this.#online.delete(user.id);
    this.#byNameRemove(user);
    this.#store.setLastSeq(user.id, this.#store.latestSeq());
    this.#log(`${user.id} left`);
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
    const address = peer.address ?? "?";
    const lockedFor = this.#password && hello.password !== undefined
      ? this.#passwordLockout(address)
      : 0;
    if (lockedFor > 0) {
      // after a wrong guess the address waits out its delay before any password is even looked
      // at: answering a right one at once would tell a guesser who hangs up early
      const message = `too many wrong passwords from your address; try again in ${
        Math.ceil(lockedFor / 1000)
      } s`;
      reply(peer, { type: "error", code: ErrorCode.badPassword, message });
      return peer.close("bad_password", message);
    }
    if (this.#password && !this.#passwordMatches(hello.password)) {
      const missing = hello.password === undefined;
      const message = missing
        ? "this server needs a password (--password-file or CHAT_PASSWORD)"
        : "wrong password";
      const refuse = () => {
        reply(peer, { type: "error", code: ErrorCode.badPassword, message });
        peer.close("bad_password", message);
      };
      if (missing) return refuse();
      // a wrong guess is answered slowly, and more slowly for each recent one from that address
      peer.refused = true;
      return this.#later(refuse, this.#passwordDelay(address));
    }
    let identity = hello.token
      ? this.#store.identityByToken(hello.name, hashToken(hello.token))
      : null;
    let token = hello.token;
    if (!identity) {
      const id = pickId(hello.name, (id) => this.#store.canonicalId(id) !== null, this.#digits);
      if (id === null) {
        reply(peer, {
          type: "error",
          code: ErrorCode.full,
          message: `every id for the name ${hello.name} has been issued; pick another name`,
        });
        return peer.close("full", "no id left for that name");
      }
      token = newToken();
      this.#store.createIdentity({
        id,
        name: hello.name,
        tokenHash: hashToken(token),
        createdAt: this.#now(),
      });
      identity = { id, name: hello.name, tokenHash: "", createdAt: this.#now(), lastSeq: 0 };
    }
    const user: User = { id: identity.id, name: identity.name };
    const previous = this.#online.get(user.id);
    peer.user = user;
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
      token: token!,
      users: this.users(Math.min(USERS_LIST_LIMIT, PRESENCE_NAMES_LIMIT)),
      online: this.#online.size,
      limits: this.limits,
      server: { version: this.#version },
    });
    const backlog = this.#backlog(user.id, identity.lastSeq, hello.resume);
    if (peer.replay) peer.replay(backlog);
    else for (const frame of backlog) peer.send(encodeFrame(frame));
    if (!previous) {
      this.#log(`${user.id} joined`);
      this.#announce({ type: "presence", joined: user, online: this.#online.size }, peer);
    }
  }

  /**
   * What a joining user is shown. Resuming: every message after the one they saw last and every
   * deletion or expiry since, in the order they happened. Otherwise: recent history plus the
   * direct messages that came while they were away.
   */
  #backlog(userId: string, lastSeq: number, resume?: string): ServerFrame[] {
    const replay = resume ? this.#store.replaySince(userId, resume, REPLAY_LIMIT) : null;
    if (replay) {
      const notice: ServerFrame[] = replay.truncated
        ? [{
          type: "error",
          code: ErrorCode.backlogTruncated,
          message:
            `you missed more than ${REPLAY_LIMIT} messages; only the newest ${REPLAY_LIMIT} follow`,
        }]
        : [];
      const events: { at: number; frame: ServerFrame }[] = [
        ...replay.messages.map((m) => ({ at: m.seq, frame: toFrame(m, true) as ServerFrame })),
        // a purge comes right after the newest message of its moment
        ...replay.purged.map((p) => ({
          at: p.after + 0.5,
          frame: { type: "deleted", id: p.id, reason: p.reason } as ServerFrame,
        })),
      ];
      return [...notice, ...events.sort((a, b) => a.at - b.at).map((e) => e.frame)];
    }
    const recent = this.#store.recentVisible(userId, HISTORY_ON_JOIN);
    const direct = this.#store.directSince(userId, lastSeq, REPLAY_LIMIT);
    const bySeq = new Map<number, StoredMessage>();
    for (const m of [...direct, ...recent]) bySeq.set(m.seq, m);
    return [...bySeq.values()].sort((a, b) => a.seq - b.seq).map((m) => toFrame(m, true));
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
    let stored: Inserted[];
    try {
      stored = this.#store.insertMessages(
        batch.map(({ message, ref }) => ({ message, clientRef: ref })),
      );
    } catch (error) {
      this.#log(`could not store ${batch.length} message(s): ${(error as Error).message}`);
      for (const { peer, ref } of batch) {
        reply(peer, {
          type: "error",
          ref,
          code: ErrorCode.internal,
          message: "the server could not store that message; nothing was sent",
        });
      }
      return;
    }
    // Consecutive public messages go out as one shared buffer to everyone: encoded once,
    // concatenated once, one write per connection. Their acks follow the run, in order.
    let run: Uint8Array[] = [];
    let acks: number[] = [];
    const endRun = () => {
      if (run.length > 0) {
        const shared = run.length === 1 ? run[0] : concatFrames(run);
        for (const peer of this.#online.values()) peer.send(shared);
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
      if (message.expiresAt !== undefined) this.#expiries.add(message.id, message.expiresAt);
      const bytes = encodeFrame(toFrame({ ...message, quote: batch[i].quote }));
      if (message.to === undefined) {
        run.push(bytes);
        acks.push(i);
        continue;
      }
      endRun();
      this.#deliver(message, bytes);
      this.#ack(batch[i], message);
    }
    endRun();
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
    for (const purged of this.#store.purge([message.id], "deleted")) {
      this.#deliver(purged, encodeFrame({ type: "deleted", id: purged.id, reason: "deleted" }));
    }
    reply(peer, { type: "ack", ref: frame.ref, id: message.id, time: this.#now() });
  }

  #search(peer: Peer, user: User, frame: Search): void {
    let pattern: RE2JS;
    try {
      // RE2: linear time in the text, whatever the pattern
      pattern = RE2JS.compile(frame.pattern, RE2JS.CASE_INSENSITIVE);
    } catch (error) {
      const why = (error as Error).message.replace("(?i)", "").replace(
        /^error parsing regexp: /,
        "",
      );
      return reply(peer, {
        type: "error",
        ref: frame.ref,
        code: ErrorCode.badPattern,
        message: `that pattern is not a valid regular expression: ${why}`,
      });
    }
    const { total, messages } = this.#store.search(
      user.id,
      (text) => pattern.matcher(text).find(),
      MAX_SEARCH_RESULTS,
    );
    reply(peer, { type: "results", ref: frame.ref, total, messages: fitInFrame(messages) });
  }

  /** Sends one encoded frame to everyone online who may see `message`. */
  #deliver(message: { from: string; to?: readonly string[] }, bytes: Uint8Array): void {
    if (message.to === undefined) {
      for (const peer of this.#online.values()) peer.send(bytes);
      return;
    }
    this.#online.get(message.from)?.send(bytes);
    for (const id of message.to) {
      if (id !== message.from) this.#online.get(id)?.send(bytes);
    }
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
      peer.close("flood", "too many messages too fast; disconnected");
      return false;
    }
    reply(peer, {
      type: "error",
      ref,
      code: ErrorCode.rateLimited,
      message: `slow down: at most ${limit}; that request was refused`,
    });
    return false;
  }

  /** Records a wrong password from `address`; returns how long to wait before saying so. */
  /** Records a wrong password from `address`; returns how long its answer (and lockout) lasts. */
  #passwordDelay(address: string): number {
    const now = this.#now();
    const prior = this.#passwordFailures.get(address);
    const count = prior && now - prior.last < PASSWORD_FAILURE_MEMORY_MS ? prior.count + 1 : 1;
    const delay = Math.min(MAX_PASSWORD_DELAY_MS, PASSWORD_DELAY_MS * 2 ** Math.min(count - 1, 20));
    this.#passwordFailures.set(address, { count, last: now, until: now + delay });
    if (this.#passwordFailures.size > MAX_PASSWORD_ADDRESSES) {
      for (const [key, entry] of this.#passwordFailures) {
        if (now - entry.last >= PASSWORD_FAILURE_MEMORY_MS) this.#passwordFailures.delete(key);
      }
    }
    return delay;
  }

  /** How long `address` must still wait before a password from it is looked at (0: none). */
  #passwordLockout(address: string): number {
    const entry = this.#passwordFailures.get(address);
    return entry ? Math.max(0, entry.until - this.#now()) : 0;
  }

  #passwordMatches(given: string | undefined): boolean {
    if (given === undefined || !this.#password) return false;
    // compare digests: equal length, constant time whatever the guess
    const digest = new TextEncoder().encode(hashToken(given));
    return timingSafeEqual(digest, this.#password);
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

function reply(peer: Peer, frame: ServerFrame): void {
  peer.send(encodeFrame(frame));
}

/** Room kept in a results frame for its other fields. */
const RESULTS_OVERHEAD = 512;

/** As many of `messages` (in order) as fit in one results frame under the frame cap. */
function fitInFrame(messages: readonly StoredMessage[]): Message[] {
  const out: Message[] = [];
  let bytes = RESULTS_OVERHEAD;
  for (const m of messages) {
    const frame = toFrame(m, true);
    const size = utf8Length(JSON.stringify(frame)) + 1; // and its comma

    if (bytes + size > MAX_FRAME_BYTES) break;
    bytes += size;
    out.push(frame);
  }
  return out;
}

/** The UTF-8 length of a string, without encoding it. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      bytes += 4; // a surrogate pair: one 4-byte character
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** A stored message as the `message` frame clients receive. */
export function toFrame(m: StoredMessage, replay = false): Message {
  const frame: Message = { type: "message", id: m.id, from: m.from, text: m.text, time: m.time };
  if (m.to) frame.to = m.to;
  if (m.replyTo) frame.replyTo = m.replyTo;
  if (m.quote) frame.quote = m.quote;
  if (m.expiresAt) frame.expiresAt = m.expiresAt;
  if (replay) frame.replay = true;
  return frame;
}
