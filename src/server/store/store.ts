/**
 * The history and identity store, behind one interface so the hub never knows which backend it
 * talks to. Calls are synchronous: the embedded backend (node:sqlite) is, and a synchronous
 * "persist" keeps the rule "persist, then fan out, then ack" a straight line of code.
 */
import type { ModerationAction } from "../../protocol/schema.ts";

/** A purged message: whom to tell (its text is gone). */
export interface Purged {
  id: string;
  from: string;
  to?: string[];
  /** The room of a public message. */
  room?: string;
}

/** A message's id, author and audience, live or purged: what a delete needs to decide. */
export interface Tombstone extends Purged {
  purged: boolean;
}

/** One write of a group commit. */
export type Write =
  | { kind: "insert"; message: NewMessage; clientRef?: string }
  | { kind: "purge"; id: string; reason: "deleted" | "expired" }
  /**
   * Deletes the oldest `limit` messages of a room being removed (see {@link Store.dropRoom});
   * with the last of them (fewer than `limit` left), the room itself, so its name is free.
   */
  | { kind: "dropRoom"; room: string; limit: number };

/**
 * What a write came to: an insert's result, or for a purge the message purged (null when it was
 * not live: unknown, or purged already).
 */
export type Written = Inserted | { purged: Purged | null } | DroppedBatch;

/** What one `dropRoom` write did: how many messages went, and whether the room is gone. */
export interface DroppedBatch {
  removed: number;
  done: boolean;
}

/** A message as stored. `to` is absent for a public message. */
export interface StoredMessage {
  /** Store-assigned order: strictly increasing in the order messages were accepted. */
  seq: number;
  id: string;
  from: string;
  to?: string[];
  /** The room of a public message (absent for a direct one). */
  room?: string;
  text: string;
  time: number;
  replyTo?: string;
  /** For a reply, read with it: the original's author and first line, or that it is gone. */
  quote?: Quote;
  expiresAt?: number;
  /** An action (`/me waves`). */
  action?: boolean;
}

/** What storing one message of a batch came to: stored now, or stored before under that ref. */
export type Inserted = StoredMessage | { duplicateOf: string };

/** A purge as a resume replays it: `after` is the newest seq when it happened (it goes right after that message). */
export interface Purge {
  id: string;
  seq: number;
  reason: "deleted" | "expired";
  after: number;
}

/** Which purges a resume replays: of messages at or before `atOrBefore`, done in [since, upto]. */
export interface PurgeRange {
  atOrBefore: number;
  since: number;
  upto: number;
  /** Keyset: only purges ordered after this one (by `after`, then `seq`). */
  from?: { after: number; seq: number };
}

export type Quote = { from: string; text: string } | { deleted: true };

/** A message before the store gave it a sequence number. */
export type NewMessage = Omit<StoredMessage, "seq" | "quote">;

/** An id the server has issued. Ids are never reused, so identities are never removed. */
export interface Identity {
  id: string;
  name: string;
  /** SHA-256 (hex) of the secret token that reclaims this id. */
  tokenHash: string;
  createdAt: number;
  /** The last message sequence this user had been sent when they left. */
  lastSeq: number;
}

/** A device holding a token for an id. */
export interface Session {
  /** A short random handle, shown to the user (never the token). */
  id: string;
  userId: string;
  createdAt: number;
  lastSeenAt: number;
  /** Where it last connected from. */
  address: string;
}

/** A token presented with `hello`, and what it matched. */
export interface TokenMatch {
  identity: Identity;
  session: Session;
  /** It was the token presented before the last rotation, not the current one. */
  previous: boolean;
  /** When the session's token last rotated (null: never). */
  rotatedAt: number | null;
  /** The session was revoked (`logout_others` from another one). */
  revoked: boolean;
}

/** A room as stored, with how many are in it. */
export interface StoredRoom {
  name: string;
  topic: string;
  topicBy?: string;
  topicAt?: number;
  private: boolean;
  createdAt: number;
  members: number;
}

export type RestrictionKind = "ban" | "mute";

/** A ban or mute as stored. */
export interface StoredRestriction {
  kind: RestrictionKind;
  /** A room's name, or "" for the whole server. */
  scope: string;
  /** A user id, or (a server-wide ban) an address key (address.ts). */
  target: string;
  onAddress: boolean;
  by: string;
  reason?: string;
  time: number;
  /** When it ends; absent: when it is lifted. */
  until?: number;
}

/** An entry of the moderation log before the store numbers it. */
export interface NewModlogEntry {
  time: number;
  action: ModerationAction;
  /** The operator's id, or `admin` for `chat admin`. */
  by: string;
  room?: string;
  user?: string;
  address?: string;
  reason?: string;
  until?: number;
  message?: string;
}

/** An entry of the moderation log, numbered (newest highest). */
export interface ModlogRow extends NewModlogEntry {
  id: number;
}

export interface Store {
  /** The id as issued, when `id` matches an issued id ignoring case; null when never issued. */
  canonicalId(id: string): string | null;
  /**
   * Issues an id with its first session (token `tokenHash`) and puts it in GENERAL_ROOM; returns
   * the session's id.
   */
  createIdentity(identity: Omit<Identity, "lastSeq">, address?: string): string;
  identity(id: string): Identity | null;
  /** The identity of `name` whose current token hashes to `tokenHash`, if any. */
  identityByToken(name: string, tokenHash: string): Identity | null;
  /** The session of an id of `name` whose current or previous token hashes to `tokenHash`. */
  sessionByToken(name: string, tokenHash: string): TokenMatch | null;
  /** A session's token was used: the presented one becomes its previous, `tokenHash` current. */
  rotateSession(
    sessionId: string,
    presentedHash: string,
    tokenHash: string,
    now: number,
    address: string,
  ): void;
  /** A new session for `userId`; the least recently seen beyond `keep` are dropped. */
  createSession(
    userId: string,
    tokenHash: string,
    now: number,
    address: string,
    keep: number,
  ): string;
  /** `userId`'s sessions not revoked, most recently seen first. */
  sessions(userId: string): Session[];
  /**
   * Revokes every session of `userId` but one: their tokens are refused from now on (and said
   * to be revoked; the rows go with the least recently seen). Returns how many.
   */
  revokeOtherSessions(userId: string, keepSessionId: string, now: number): number;
  setLastSeq(id: string, seq: number): void;

  /**
   * Persists one message; returns it with its sequence number. Durable when it returns. With
   * `clientRef`, remembers that the sender's request `clientRef` made it (see {@link sentRef}).
   */
  insertMessage(message: NewMessage, clientRef?: string): StoredMessage;
  /**
   * Persists many messages in one transaction (group commit), in order. All or none. An entry
   * whose `clientRef` this sender already used is not stored again: its result names the
   * message that was.
   */
  insertMessages(batch: readonly { message: NewMessage; clientRef?: string }[]): Inserted[];
  /**
   * The group commit: inserts and purges in one transaction, in order; all or none. An insert
   * whose `clientRef` this sender already used is not stored again (its result names the message
   * that was). A purge leaves no text behind, in the database or its WAL, once this returns (or,
   * should a reader keep the checkpoint from finishing, after the next write); so does a
   * `dropRoom` batch, whose messages are deleted outright (ids, tombstones and all). (SQLite;
   * PostgreSQL keeps it longer: see PostgresStore.commit.)
   */
  commit(writes: readonly Write[]): Written[];
  /** The id of the message that `userId`'s request `ref` stored, if it did. */
  sentRef(userId: string, ref: string): string | null;
  /** Forgets request refs older than `before` (ms since epoch). */
  forgetSentRefs(before: number): void;
  /** Who wrote a message, to whom, and whether it is purged (even after its text is gone). */
  tombstone(id: string): Tombstone | null;
  /** The sequence number of message `id` (live or purged), or null when unknown. */
  seqOf(id: string): number | null;
  /**
   * Live messages `userId` may see with seq in (after, upto], oldest first, at most `limit`;
   * with `directOnly`, only direct messages to or from them. Backlogs are read in such pages.
   */
  messagesAfter(
    userId: string,
    after: number,
    upto: number,
    limit: number,
    directOnly?: boolean,
  ): StoredMessage[];
  /**
   * Where the newest `keep` of those messages begin: the seq s such that (s, upto] holds exactly
   * them; null when (after, upto] holds no more than `keep`.
   */
  newestStart(
    userId: string,
    after: number,
    upto: number,
    keep: number,
    directOnly?: boolean,
  ): number | null;
  /** Purges in `range` of messages `userId` may see, ordered by `after` then seq, at most `limit`. */
  purgesAfter(userId: string, range: PurgeRange, limit: number): Purge[];
  /** One message by id, or null. */
  message(id: string): StoredMessage | null;
  /**
   * Messages `userId` may see before the message `beforeId` (or the newest), newest last, at most
   * `limit`; with `room`, of that room only.
   */
  visibleBefore(
    userId: string,
    beforeId: string | undefined,
    limit: number,
    room?: string,
  ): StoredMessage[];
  /** One live message by id, if `userId` may see it. */
  visibleMessage(userId: string, id: string): StoredMessage | null;
  /**
   * Purges the text of these messages (a tombstone with id, author and audience stays) so that
   * it cannot be recovered from the database files either; one commit. Returns those that were
   * live (already-purged or unknown ids are skipped).
   */
  purge(ids: readonly string[], reason: "deleted" | "expired"): Purged[];
  /** Every live temporary message's id and deadline, for the expiry schedule at start-up. */
  pendingExpiries(): { id: string; expiresAt: number }[];
  /**
   * Live messages `userId` may see (of `room` only, when given) whose text `matches`, newest
   * first: the first `limit` of them and how many there are in all.
   */
  search(
    userId: string,
    matches: (text: string) => boolean,
    limit: number,
    room?: string,
  ): { total: number; messages: StoredMessage[] };
  /** The highest sequence number given out so far (0 when empty). */
  latestSeq(): number;

  /** Every room (not one being removed), with how many are in each. */
  rooms(): StoredRoom[];
  /** The rooms `userId` is in. */
  roomsOf(userId: string): string[];
  isMember(userId: string, room: string): boolean;
  /**
   * Puts `userId` in `room` (and takes up their invitation to it). With `create`, makes the room
   * first, its creator its operator.
   */
  joinRoom(userId: string, room: string, now: number, create?: { private: boolean }): void;
  /** Takes `userId` out of `room` (and drops an invitation to it). */
  partRoom(userId: string, room: string): void;
  setTopic(room: string, topic: string, by: string, now: number): void;
  setPrivate(room: string, isPrivate: boolean): void;
  isOperator(userId: string, room: string): boolean;
  /** Invites `userId` to `room`; the room keeps its `keep` newest invitations. */
  invite(room: string, userId: string, by: string, now: number, keep: number): void;
  isInvited(userId: string, room: string): boolean;
  /**
   * Starts removing `room` (one transaction): its memberships, operators, invitations, and the
   * bans and mutes scoped to it go, and it is marked dropped — no longer among {@link rooms},
   * its name still taken until `dropRoom` writes have deleted its messages and then it. False
   * when there is no such room (or it is being removed already).
   */
  dropRoom(room: string): boolean;
  /** The rooms being removed, whose messages are still being deleted (after a restart too). */
  droppedRooms(): string[];

  /** Runs `fn` in one write transaction: all its writes or none. */
  atomically<T>(fn: () => T): T;
  isServerOperator(userId: string): boolean;
  /** The server's operators, in the order they were made. */
  serverOperators(): string[];
  /** Makes `userId` a server operator; false when they were one already. */
  addServerOperator(userId: string, now: number): boolean;
  /** False when they were not one. */
  removeServerOperator(userId: string): boolean;
  /** Who made `room` (null for GENERAL_ROOM, or no such room). */
  roomCreator(room: string): string | null;
  /** `room`'s operators, its creator among them. */
  roomOperators(room: string): string[];
  /** Makes `userId` an operator of `room` (true when they are one already); false when it has `keep`. */
  addRoomOperator(room: string, userId: string, keep: number): boolean;
  /** False when they were not one. */
  removeRoomOperator(room: string, userId: string): boolean;
  /**
   * Puts a ban or mute in force, replacing one of the same kind on the same target and scope;
   * false (nothing written) when its scope keeps `keep` already (ended ones count until pruned).
   */
  restrict(restriction: StoredRestriction, keep: number): boolean;
  /** Lifts a ban or mute; whether one was in force at `now`. */
  lift(kind: RestrictionKind, scope: string, target: string, now: number): boolean;
  /** The ban or mute in force at `now`, if any. */
  restriction(
    kind: RestrictionKind,
    scope: string,
    target: string,
    now: number,
  ): StoredRestriction | null;
  /** The bans or mutes in force on `target`, in every scope. */
  restrictionsOf(target: string, kind: RestrictionKind, now: number): StoredRestriction[];
  /** Those in force in `scope`, newest first, from `offset`, at most `limit`; and how many. */
  restrictions(
    scope: string,
    now: number,
    offset: number,
    limit: number,
  ): { total: number; restrictions: StoredRestriction[] };
  /** Forgets bans and mutes that have ended (at most `limit`); returns how many. */
  pruneRestrictions(now: number, limit: number): number;
  /** Adds an entry to the moderation log, which keeps its newest `keep`; returns its number. */
  logModeration(entry: NewModlogEntry, keep: number): number;
  /** Entries (of `room` only, when given) numbered below `before`, newest first, at most `limit`. */
  modlog(room: string | undefined, before: number | undefined, limit: number): ModlogRow[];
  close(): void;
}

/**
 * The store cannot be reached or did not answer in time (PostgreSQL down, frozen, or cut off):
 * the request is refused as `unavailable`, never as a fault of the server. SQLite does not throw
 * it (its failures are its disk's).
 */
export class StoreUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StoreUnavailableError";
  }
}

/**
 * The id was issued meanwhile by another server sharing the database (PostgreSQL): admission
 * picks another. SQLite, with one writer, never throws it.
 */
export class IdTakenError extends Error {
  constructor(readonly id: string) {
    super(`the id ${id} was just issued to someone else`);
    this.name = "IdTakenError";
  }
}

/** Longest quote of an original, in characters: its first line, cut. */
export const QUOTE_LENGTH = 120;

/** The quote a reply shows of its original: the author and the first line. */
export function quoteOf(original: { from: string; text: string }): Quote {
  const line = original.text.split("\n")[0];
  const text = line.length > QUOTE_LENGTH ? `${line.slice(0, QUOTE_LENGTH - 1)}…` : line;
  return { from: original.from, text };
}
