/**
 * Messages: sending, deleting and expiring, all through one group commit. Every request accepted
 * in a turn of the event loop (and every expiry due at a tick) is written in one transaction, then
 * fanned out in the order it came (each frame encoded once; runs of frames for everyone shared as
 * one buffer) and acknowledged. Persist, then fan out, then ack: an acknowledged message survives
 * a crash, and nothing unstored is ever sent.
 */
import { setImmediate } from "node:timers";
import { monotonicFactory } from "ulid";
import { concatFrames, encodeFrame } from "../protocol/codec.ts";
import { type Delete, ErrorCode, GENERAL_ROOM, type Send, type User } from "../protocol/schema.ts";
import { ExpirySchedule } from "./expiry.ts";
import { reply, toFrame } from "./frames.ts";
import { type Log, silentLog } from "./log.ts";
import * as metrics from "./metrics.ts";
import type { Peer } from "./peer.ts";
import type { Presence } from "./presence.ts";
import { notInRoom, type Rooms } from "./rooms.ts";
import { canSee, replyAudience, resolveRecipients } from "./routing.ts";
import type { StoreHealth } from "./store/health.ts";
import type { Commit, CommittedPurge } from "./cluster/sequencer.ts";
import {
  type DroppedBatch,
  type Inserted,
  type NewMessage,
  type Purged,
  type Quote,
  quoteOf,
  type Store,
  type StoredMessage,
  type Write,
  type Written,
} from "./store/store.ts";

/** How long the server remembers a request ref, to acknowledge a retried send only once. */
export const SENT_REF_TTL_MS = 24 * 3600_000;
/** Temporary messages expired per tick at most: a mass expiry is spread over several ticks. */
export const EXPIRIES_PER_TICK = 1_000;
/** After a store failure, how long until an expiry is tried again. */
export const EXPIRY_RETRY_MS = 5_000;
/**
 * Messages of a room being removed deleted per group commit at most: a room of 100,000 goes in
 * 100 turns of the event loop, none of them held long (see tests/messages_test.ts).
 */
export const ROOM_MESSAGES_DROPPED_PER_TURN = 1_000;
/**
 * A temporary message stored by another node of a cluster is expired by that node; this node
 * takes it over only this long after its deadline (when that node is gone).
 */
export const EXPIRY_TAKEOVER_MS = 3_000;
/** What a `message` frame adds to its text: id, sender, time and the JSON around them. */
const FRAME_FIELDS_BYTES = 160;

/** One request (or expiry) waiting for the group commit, and what to do once it is written. */
type Entry =
  | { kind: "send"; peer: Peer; ref: string; quote?: Quote; message: NewMessage }
  /** `by`: an operator of its room deleting someone else's message. */
  | { kind: "delete"; peer: Peer; ref: string; id: string; by?: string }
  | { kind: "expire"; id: string };

export interface MessagesOptions {
  store: Store;
  presence: Presence;
  /** Who is in which room: a public message goes to its room's members. */
  rooms: Rooms;
  health: StoreHealth;
  /** Told what an accepted message will cost to fan out, until it has been (the server's budget). */
  budget?: { change(delta: number): void };
  log?: Log;
  now?: () => number;
  /**
   * Runs `fn` once the current turn of the event loop is done (setImmediate by default: after
   * the I/O callbacks of this turn, so every socket's frames join one group commit).
   */
  defer?: (fn: () => void) => void;
  /** A direct message from the user on `peer` was stored, fanned out and acknowledged. */
  onDirect?: (peer: Peer, message: { from: string; to: readonly string[] }) => void;
  /**
   * Why `userId` may not send in `room` (undefined: a direct message) now, or null (default:
   * nobody is muted).
   */
  muted?: (userId: string, room: string | undefined) => string | null;
  /** Whether `userId` may delete anyone's message in `room` (default: nobody may). */
  operates?: (userId: string, room: string) => boolean;
  /** An operator's deletion of someone else's message went through (the moderation log). */
  deletedBy?: (by: string, purged: Purged) => void;
  /** A room being removed is gone, its messages with it: its name is free again. */
  roomDropped?: (room: string) => void;
  /**
   * In a cluster, where this node's commits take their turn among every node's (absent: one
   * node, whose commits go out at once).
   */
  order?: CommitOrder;
}

/** Where a node of a cluster hands its commits, to go out in the cluster's one order. */
export interface CommitOrder {
  /**
   * This node has just committed `messages` and `purges`: `run` (their fan-out and acks here)
   * runs once every earlier commit of the cluster has gone out here; the other nodes are told.
   */
  own(messages: StoredMessage[], purges: CommittedPurge[], run: () => void): void;
}

export class Messages {
  readonly #store: Store;
  readonly #presence: Presence;
  readonly #rooms: Rooms;
  readonly #health: StoreHealth;
  readonly #budget?: { change(delta: number): void };
  readonly #log: Log;
  readonly #now: () => number;
  readonly #defer: (fn: () => void) => void;
  readonly #onDirect: NonNullable<MessagesOptions["onDirect"]>;
  readonly #muted: NonNullable<MessagesOptions["muted"]>;
  readonly #operates: NonNullable<MessagesOptions["operates"]>;
  readonly #deletedBy: NonNullable<MessagesOptions["deletedBy"]>;
  readonly #roomDropped: NonNullable<MessagesOptions["roomDropped"]>;
  readonly #order?: CommitOrder;
  /** Temporary messages of other nodes scheduled here in case their node is gone. */
  readonly #takeover = new Set<string>();
  /** Of those, the ones their node expired (or someone deleted): skipped when they come due. */
  readonly #goneElsewhere = new Set<string>();
  /** Rooms being removed, oldest first: one batch of their messages goes with each commit. */
  readonly #dropping = new Set<string>();
  /** A flush is waiting for the end of this turn. */
  #flushDue = false;
  readonly #newId = monotonicFactory();
  /** Deadlines of live temporary messages. */
  readonly #expiries = new ExpirySchedule();
  /** Waiting for the group commit, in arrival order. */
  #batch: Entry[] = [];
  /** What fanning out the batch's messages will cost (bytes), as told to the budget. */
  #batchCost = 0;

  constructor(options: MessagesOptions) {
    this.#store = options.store;
    this.#presence = options.presence;
    this.#rooms = options.rooms;
    this.#health = options.health;
    this.#budget = options.budget;
    this.#log = options.log ?? silentLog;
    this.#now = options.now ?? Date.now;
    this.#defer = options.defer ?? ((fn) => void setImmediate(fn));
    this.#onDirect = options.onDirect ?? (() => {});
    this.#muted = options.muted ?? (() => null);
    this.#operates = options.operates ?? (() => false);
    this.#deletedBy = options.deletedBy ?? (() => {});
    this.#roomDropped = options.roomDropped ?? (() => {});
    this.#order = options.order;
    for (const { id, expiresAt } of this.#store.pendingExpiries()) {
      this.#expiries.add(id, expiresAt);
    }
    // a removal the server stopped in the middle of goes on
    for (const room of this.#store.droppedRooms()) this.#dropping.add(room);
    if (this.#dropping.size > 0) this.#flushLater();
  }

  /** How many rooms are being removed (their messages deleted a batch per turn). */
  get droppingRooms(): number {
    return this.#dropping.size;
  }

  /**
   * `room` is being removed (the store has marked it): its messages are deleted, at most
   * ROOM_MESSAGES_DROPPED_PER_TURN with each group commit, one commit per turn until none is
   * left; then the room goes and `roomDropped` is told.
   */
  dropRoom(room: string): void {
    this.#dropping.add(room);
    this.#flushLater();
  }

  /** How many temporary messages are waiting to expire. */
  get pendingExpiries(): number {
    return this.#expiries.size;
  }

  /** A `send`: checked now, stored with this turn's group commit. */
  send(peer: Peer, user: User, frame: Send): void {
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
    let room: string | undefined;
    let replyTo: string | undefined;
    let quote: Quote | undefined;
    if (frame.replyTo !== undefined) {
      const original = this.#store.message(frame.replyTo);
      if (!original || !this.#canSee(user.id, original)) {
        // the same words whether it never existed or is not yours to see
        return fail(ErrorCode.notFound, "there is no message with that id that you can reply to");
      }
      replyTo = original.id;
      quote = quoteOf(original);
      to = replyAudience(user.id, original);
      room = original.room; // a reply stays where its original is
    } else if (frame.to) {
      // only the online users whose names were typed: a DM costs nothing per person online
      const online = this.#presence.named(frame.to);
      const resolved = resolveRecipients(frame.to, online, (id) => this.#store.canonicalId(id));
      if (!resolved.ok) return fail(resolved.code, resolved.message);
      to = resolved.ids;
    } else {
      room = frame.room ?? GENERAL_ROOM;
      if (!this.#rooms.isIn(user.id, room)) return fail(ErrorCode.notFound, notInRoom(room));
    }
    const muted = this.#muted(user.id, room);
    if (muted !== null) return fail(ErrorCode.forbidden, muted);
    const time = this.#now();
    const message: NewMessage = {
      id: this.#newId(time),
      from: user.id,
      to,
      room,
      text: frame.text,
      time,
      replyTo,
      expiresAt: frame.ttl === undefined ? undefined : time + frame.ttl * 1000,
    };
    if (frame.action) message.action = true;
    // a frame is about its text plus its fields; public ones go to the room's members online
    const recipients = to ? to.length + 1 : this.#rooms.onlineIn(room!);
    const cost = (frame.text.length + FRAME_FIELDS_BYTES) * recipients;
    this.#batchCost += cost;
    this.#budget?.change(cost);
    this.#queue({ kind: "send", peer, ref: frame.ref, quote, message });
  }

  /** A `delete`: checked now (one read), purged with this turn's group commit. */
  delete(peer: Peer, user: User, frame: Delete): void {
    const fail = (code: string, message: string) =>
      reply(peer, { type: "error", ref: frame.ref, code, message });
    const found = this.#store.tombstone(frame.id);
    if (found?.purged && found.from === user.id) {
      // the author retrying a delete that already happened (or an expiry that beat it): done
      return reply(peer, { type: "ack", ref: frame.ref, id: frame.id, time: this.#now() });
    }
    if (!found || found.purged || !this.#canSee(user.id, found)) {
      return fail(ErrorCode.notFound, "there is no message with that id that you can delete");
    }
    if (found.from === user.id) {
      return this.#queue({ kind: "delete", peer, ref: frame.ref, id: found.id });
    }
    // someone else's: an operator of its room may (a direct message is nobody else's business)
    if (found.room === undefined || !this.#operates(user.id, found.room)) {
      return fail(
        ErrorCode.forbidden,
        "only its author (or an operator of its room) can delete a message",
      );
    }
    this.#queue({ kind: "delete", peer, ref: frame.ref, id: found.id, by: user.id });
  }

  /**
   * Expires the temporary messages due by `now` (at most EXPIRIES_PER_TICK), in one commit of
   * their own, and tells their audience.
   */
  expire(now: number): void {
    const due = this.#expiries.due(now, EXPIRIES_PER_TICK).filter((id) => {
      if (!this.#takeover.delete(id)) return true;
      return !this.#goneElsewhere.delete(id);
    });
    // a removal stopped by a failing store is taken up again here, not retried every turn
    if (due.length === 0) return void (this.#dropping.size > 0 && this.#flushLater());
    for (const id of due) this.#batch.push({ kind: "expire", id });
    this.flush();
  }

  /** Forgets request refs older than SENT_REF_TTL_MS (called now and then). */
  forgetRefs(now: number): void {
    try {
      this.#store.forgetSentRefs(now - SENT_REF_TTL_MS);
    } catch (error) {
      this.#health.failed("forgetting old request refs", error); // tried again next time
    }
  }

  /** Whether `userId` (online) may see a message: of a room they are in, or a DM of theirs. */
  #canSee(userId: string, message: { from: string; to?: string[]; room?: string }): boolean {
    if (message.to !== undefined) return canSee(userId, message);
    return message.room !== undefined && this.#rooms.isIn(userId, message.room);
  }

  #queue(entry: Entry): void {
    this.#batch.push(entry);
    this.#flushLater();
  }

  /** The group commit runs once this turn is done (once, however many ask). */
  #flushLater(): void {
    if (this.#flushDue) return;
    this.#flushDue = true;
    this.#defer(() => {
      this.#flushDue = false;
      this.flush();
    });
  }

  /**
   * The group commit: everything waiting is written in one transaction, then fanned out and
   * acknowledged in arrival order. Runs by itself; call it to flush at once (shutdown, tests).
   */
  flush(): void {
    const batch = this.#batch;
    const dropping: string | undefined = this.#dropping.values().next().value;
    if (batch.length === 0 && dropping === undefined) return;
    this.#batch = [];
    // from now on the connections' queues hold what it costs (reset first: the budget may resume
    // a sender, and what it sends then belongs to the next batch)
    const cost = this.#batchCost;
    this.#batchCost = 0;
    this.#budget?.change(-cost);
    const writes: Write[] = batch.map((entry) =>
      entry.kind === "send"
        ? { kind: "insert", message: entry.message, clientRef: entry.ref }
        : { kind: "purge", id: entry.id, reason: entry.kind === "delete" ? "deleted" : "expired" }
    );
    // after this turn's sends: one accepted in a room before it was removed goes with the rest
    if (dropping !== undefined) {
      writes.push({ kind: "dropRoom", room: dropping, limit: ROOM_MESSAGES_DROPPED_PER_TURN });
    }
    const started = performance.now();
    let written: Written[];
    try {
      written = this.#store.commit(writes);
      this.#health.ok();
    } catch (error) {
      this.#health.failed(describe(batch, dropping), error);
      return this.#refuseAll(batch);
    }
    metrics.groupCommitTime.record(performance.now() - started);
    metrics.groupCommitSize.record(batch.length);
    if (this.#order) {
      const { messages, purges } = committed(batch, written);
      this.#order.own(messages, purges, () => this.#fanOut(batch, written));
    } else this.#fanOut(batch, written);
    if (dropping !== undefined) this.#dropped(dropping, written[batch.length] as DroppedBatch);
  }

  /** One batch of a removed room's messages went; when the last has, so has the room. */
  #dropped(room: string, result: DroppedBatch): void {
    if (result.done) {
      this.#dropping.delete(room);
      this.#log.info("room removed", { room });
      this.#roomDropped(room);
    }
    if (this.#dropping.size > 0) this.#flushLater();
  }

  /**
   * Everything written goes out in order: frames for one room are gathered into one shared
   * buffer (encoded once, concatenated once, one write per connection) until a frame for another
   * audience ends the run; acknowledgements follow the frames they answer.
   */
  #fanOut(batch: Entry[], written: Written[]): void {
    const started = performance.now();
    let stored = 0;
    let expired = 0;
    const fan = this.#fan();
    const { out } = fan;
    const acks = fan.acks;
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i];
      const result = written[i];
      if (entry.kind === "send") {
        const message = result as Inserted;
        if (!("duplicateOf" in message)) {
          stored++;
          if (message.expiresAt !== undefined) this.#expiries.add(message.id, message.expiresAt);
          out(message, encodeFrame(toFrame({ ...message, quote: entry.quote })));
        }
        const ack = () => this.#ack(entry, message);
        if ("duplicateOf" in message || message.to === undefined) acks.push(ack);
        else {
          ack();
          this.#onDirect(entry.peer, { from: message.from, to: message.to });
        }
        continue;
      }
      const purged = (result as { purged: Purged | null }).purged;
      const by = entry.kind === "delete" ? entry.by : undefined;
      if (purged) {
        const reason = entry.kind === "delete" ? "deleted" : "expired";
        const deleted = encodeFrame({
          type: "deleted",
          id: purged.id,
          reason,
          ...(by ? { by } : {}),
        });
        out(purged, deleted);
        if (entry.kind === "expire") expired++;
        if (by !== undefined) this.#deletedBy(by, purged);
      }
      if (entry.kind === "delete") {
        // gone already (an expiry in the same commit) is done too
        const { peer, ref, id } = entry;
        const ack = () => reply(peer, { type: "ack", ref, id, time: this.#now() });
        if (purged?.to === undefined) acks.push(ack);
        else ack();
      }
    }
    fan.end();
    metrics.messagesStored.add(stored);
    metrics.deliveries.add(fan.delivered);
    metrics.fanOutTime.record(performance.now() - started);
    if (expired > 0) {
      metrics.expiryPurges.add(expired);
      this.#log.info("expired", { count: expired });
    }
  }

  /**
   * Delivers another node's commit to the people on this one: its messages, then its purges.
   * Their temporary messages are scheduled here too, EXPIRY_TAKEOVER_MS late, in case their
   * node is gone when they come due.
   */
  deliverCommit(commit: Commit): void {
    const started = performance.now();
    const fan = this.#fan();
    for (const message of commit.messages) {
      if (message.expiresAt !== undefined) {
        this.#takeover.add(message.id);
        this.#expiries.add(message.id, message.expiresAt + EXPIRY_TAKEOVER_MS);
      }
      fan.out(message, encodeFrame(toFrame(message)));
    }
    for (const purge of commit.purges) {
      if (this.#takeover.has(purge.id)) this.#goneElsewhere.add(purge.id);
      const { id, reason, by } = purge;
      fan.out(purge, encodeFrame({ type: "deleted", id, reason, ...(by ? { by } : {}) }));
    }
    fan.end();
    metrics.deliveries.add(fan.delivered);
    metrics.fanOutTime.record(performance.now() - started);
  }

  /**
   * Fan-out in order: frames for one room are gathered into one shared buffer (encoded once,
   * concatenated once, one write per connection) until a frame for another audience ends the
   * run; acknowledgements wait for the run holding what they answer.
   */
  #fan() {
    let run: Uint8Array[] = [];
    let runRoom = "";
    const fan = {
      delivered: 0,
      acks: [] as (() => void)[],
      end: () => {
        if (run.length > 0) {
          const shared = run.length === 1 ? run[0] : concatFrames(run);
          fan.delivered += run.length * this.#rooms.deliver(runRoom, shared);
        }
        for (const ack of fan.acks) ack();
        run = [];
        fan.acks.length = 0;
      },
      /** One frame to its audience: into the shared run if it is for the run's room. */
      out: (
        audience: { from: string; to?: readonly string[]; room?: string },
        bytes: Uint8Array,
      ) => {
        if (audience.to === undefined) {
          const room = audience.room ?? "";
          if (room !== runRoom) fan.end();
          runRoom = room;
          return void run.push(bytes);
        }
        fan.end();
        fan.delivered += this.#presence.deliver(audience, bytes);
      },
    };
    return fan;
  }

  #ack(request: { peer: Peer; ref: string }, message: Inserted): void {
    const ack = "duplicateOf" in message
      ? { id: message.duplicateOf, time: this.#now() }
      : { id: message.id, time: message.time };
    reply(request.peer, { type: "ack", ref: request.ref, ...ack });
  }

  /** The store failed: nothing was written; requests are refused, expiries tried again later. */
  #refuseAll(batch: Entry[]): void {
    const retryAt = this.#now() + EXPIRY_RETRY_MS;
    for (const entry of batch) {
      if (entry.kind === "expire") {
        this.#expiries.add(entry.id, retryAt);
        continue;
      }
      const what = entry.kind === "send" ? "store that message" : "delete that message";
      const after = entry.kind === "send" ? "nothing was sent" : "try again later";
      reply(entry.peer, {
        type: "error",
        ref: entry.ref,
        code: ErrorCode.unavailable,
        message: `the server could not ${what} (it cannot write to its database); ${after}`,
      });
    }
  }
}

/** What a commit stored and purged, as the other nodes of a cluster deliver it. */
function committed(
  batch: Entry[],
  written: Written[],
): { messages: StoredMessage[]; purges: CommittedPurge[] } {
  const messages: StoredMessage[] = [];
  const purges: CommittedPurge[] = [];
  for (let i = 0; i < batch.length; i++) {
    const entry = batch[i];
    if (entry.kind === "send") {
      const message = written[i] as Inserted;
      if (!("duplicateOf" in message)) messages.push({ ...message, quote: entry.quote });
      continue;
    }
    const purged = (written[i] as { purged: Purged | null }).purged;
    if (!purged) continue;
    const reason = entry.kind === "delete" ? "deleted" : "expired";
    const by = entry.kind === "delete" ? entry.by : undefined;
    purges.push({ ...purged, reason, ...(by ? { by } : {}) });
  }
  return { messages, purges };
}

/** What a failed commit was doing, for the log. */
function describe(batch: Entry[], dropping: string | undefined): string {
  const count = (kind: Entry["kind"]) => batch.filter((e) => e.kind === kind).length;
  const parts: string[] = [];
  if (count("send") > 0) parts.push(`storing ${count("send")} message(s)`);
  if (count("delete") > 0) parts.push(`deleting ${count("delete")} message(s)`);
  if (count("expire") > 0) parts.push("expiring temporary messages");
  if (dropping !== undefined) parts.push(`removing the messages of ${dropping}`);
  return parts.join(" and ");
}
