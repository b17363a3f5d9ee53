/**
 * The embedded store on node:sqlite. WAL with synchronous=NORMAL: a committed transaction
 * survives the process being killed (it is in the WAL, handed to the OS); only a power cut
 * can cost the last commits.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { GENERAL_ROOM } from "../../protocol/schema.ts";
import {
  type Identity,
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
  type TokenMatch,
  type Tombstone,
  type Write,
  type Written,
} from "./store.ts";
import { createPrivateDatabase } from "./files.ts";
import { newSessionId, StoreBase } from "./base.ts";
import {
  MESSAGE_WITH_QUOTE,
  type Row,
  toIdentity,
  toMessage,
  toModlog,
  toPurge,
  toPurged,
  toRestriction,
  toRoom,
  toTokenMatch,
} from "./rows.ts";

export { MESSAGE_WITH_QUOTE, toMessage } from "./rows.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS identities (
  id TEXT PRIMARY KEY COLLATE NOCASE, -- Tom_0001 and tom_0001 must not both exist
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS identities_by_token ON identities(token_hash);
-- one row per device holding a token for an id; the token rotates on every use
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL COLLATE NOCASE,
  token_hash TEXT NOT NULL,        -- SHA-256 of the token handed out last
  prev_hash TEXT,                  -- of the token presented to get it (accepted once more, briefly)
  rotated_at INTEGER,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  address TEXT NOT NULL DEFAULT '',
  revoked_at INTEGER              -- set by logout_others: its tokens are refused, and said so
);
CREATE INDEX IF NOT EXISTS sessions_by_token ON sessions(token_hash);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id, last_seen_at);
CREATE INDEX IF NOT EXISTS sessions_by_prev ON sessions(prev_hash) WHERE prev_hash IS NOT NULL;
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  sender TEXT NOT NULL,
  recipients TEXT,            -- JSON array of ids; NULL for a public message
  room TEXT,                  -- a public message's room; NULL for a direct message
  text TEXT NOT NULL,
  time INTEGER NOT NULL,
  reply_to TEXT,
  expires_at INTEGER,
  purged TEXT,                -- NULL while live; 'deleted' or 'expired' once the text is gone
  purged_after INTEGER,       -- the newest seq when it was purged: where resume replays it
  action INTEGER              -- 1 for an action (/me waves); NULL otherwise
);
CREATE INDEX IF NOT EXISTS messages_expiring ON messages(expires_at)
  WHERE expires_at IS NOT NULL AND purged IS NULL;
-- what each user's client asked to send, so a retried send is acknowledged, not stored again
CREATE TABLE IF NOT EXISTS sent_refs (
  user_id TEXT NOT NULL,
  ref TEXT NOT NULL,
  message_id TEXT NOT NULL,
  time INTEGER NOT NULL,
  PRIMARY KEY (user_id, ref)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sent_refs_by_time ON sent_refs(time);
-- who may see a direct message: its sender and every recipient
CREATE TABLE IF NOT EXISTS audience (
  user_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
-- a room a server operator removes (droproom) is marked dropped at once, its members, operators,
-- invitations and bans gone; its messages are deleted a batch at a time, and with the last batch
-- the row itself, so that the name is free again
CREATE TABLE IF NOT EXISTS rooms (
  name TEXT PRIMARY KEY,            -- '#' and lower-case
  topic TEXT NOT NULL DEFAULT '',
  topic_by TEXT,
  topic_at INTEGER,
  private INTEGER NOT NULL DEFAULT 0,
  creator TEXT,                     -- NULL for GENERAL_ROOM
  created_at INTEGER NOT NULL,
  dropped INTEGER NOT NULL DEFAULT 0 -- 1: being removed (its messages are being deleted)
);
-- who is in which room: who may see its messages
CREATE TABLE IF NOT EXISTS room_members (
  user_id TEXT NOT NULL,
  room TEXT NOT NULL REFERENCES rooms(name),
  joined_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, room)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS room_members_by_room ON room_members(room);
-- a room's creator, and (later) whoever they make one: kept when they part
CREATE TABLE IF NOT EXISTS room_operators (
  room TEXT NOT NULL REFERENCES rooms(name),
  user_id TEXT NOT NULL,
  PRIMARY KEY (room, user_id)
) WITHOUT ROWID;
-- who may join an invite-only room
CREATE TABLE IF NOT EXISTS room_invites (
  room TEXT NOT NULL REFERENCES rooms(name),
  user_id TEXT NOT NULL,
  invited_by TEXT NOT NULL,
  time INTEGER NOT NULL,
  PRIMARY KEY (room, user_id)
) WITHOUT ROWID;
-- granted and revoked by whoever runs the server (chat admin), read afresh on every use
CREATE TABLE IF NOT EXISTS server_operators (
  user_id TEXT PRIMARY KEY COLLATE NOCASE,
  granted_at INTEGER NOT NULL
) WITHOUT ROWID;
-- bans and mutes in force; one per kind, scope and target (a new one replaces it)
CREATE TABLE IF NOT EXISTS restrictions (
  kind TEXT NOT NULL,               -- 'ban' or 'mute'
  scope TEXT NOT NULL,              -- a room's name, or '' for the whole server
  target TEXT NOT NULL,             -- a user id, or an address key (a server-wide ban)
  on_address INTEGER NOT NULL DEFAULT 0,
  by TEXT NOT NULL,
  reason TEXT,
  time INTEGER NOT NULL,
  until INTEGER,                    -- NULL: until lifted
  PRIMARY KEY (kind, scope, target)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS restrictions_by_target ON restrictions(target, kind);
CREATE INDEX IF NOT EXISTS restrictions_by_scope ON restrictions(scope, time);
CREATE INDEX IF NOT EXISTS restrictions_ending ON restrictions(until) WHERE until IS NOT NULL;
-- every moderation action, the newest kept (a bounded table)
CREATE TABLE IF NOT EXISTS modlog (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  action TEXT NOT NULL,             -- one of MODERATION_ACTIONS (schema.ts)
  by TEXT NOT NULL,                 -- the operator's id, or 'admin' for chat admin
  room TEXT,                        -- NULL: the whole server
  user_id TEXT,                     -- whom it was done to
  address TEXT,                     -- the address key of a server-wide ban on one
  reason TEXT,
  until INTEGER,                    -- when the ban or mute ends; NULL: until lifted
  message TEXT                      -- the message an operator deleted (its id)
);
CREATE INDEX IF NOT EXISTS modlog_by_room ON modlog(room, seq) WHERE room IS NOT NULL;
`;

/**
 * SQL: the highest seq ever given out (0 when none), which removing a room's messages (the
 * newest among them, perhaps) does not lower: AUTOINCREMENT keeps it in sqlite_sequence.
 */
const LATEST_SEQ = "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0)";

/** Most seqs read from one room (or a user's direct messages) at a time, when merging them. */
const VISIBLE_PAGE_MAX = 1024;

/** One room's (or a user's direct messages') seqs, read a page at a time for a merge. */
interface Source {
  /** The next `limit` seqs beyond `from` (below it, newest first; or above it). */
  next(from: number, limit: number): number[];
  page: number[];
  at: number;
  from: number;
  size: number;
  /** The page read last was its last one. */
  done: boolean;
}

/**
 * SQL condition: user `:user` may see message `m`, live or purged: a public message of a room
 * they are in, or a direct message whose audience includes them.
 */
const AUDIENCE_INCLUDES_USER = `(CASE WHEN m.recipients IS NULL
  THEN EXISTS (SELECT 1 FROM room_members r WHERE r.user_id = :user AND r.room = m.room)
  ELSE EXISTS (SELECT 1 FROM audience a WHERE a.user_id = :user AND a.seq = m.seq) END)`;

/**
 * SQL condition: message `m` is live and user `:user` may see it (public in a room they are in,
 * or a direct message whose audience includes them). Exported so the search worker applies
 * exactly this rule.
 */
export const VISIBLE_TO_USER = `m.purged IS NULL AND ${AUDIENCE_INCLUDES_USER}`;

/** Opens (creating if needed) the database at `path`; ":memory:" works for tests. */
export class SqliteStore extends StoreBase implements Store {
  #db: DatabaseSync;
  #q: Record<string, StatementSync>;
  /** A purge's WAL checkpoint did not finish; retried after each write. */
  #checkpointOwed = false;

  constructor(path: string) {
    super();
    // owner-only from the first byte: it holds direct messages (its -wal and -shm follow it)
    createPrivateDatabase(path);
    this.#db = new DatabaseSync(path);
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = NORMAL");
    this.#db.exec("PRAGMA foreign_keys = ON");
    this.#db.exec("PRAGMA busy_timeout = 5000");
    // freed content is overwritten with zeros, so a purged text is not left in free pages
    this.#db.exec("PRAGMA secure_delete = ON");
    this.#db.exec(SCHEMA);
    migrateSessions(this.#db);
    migrateRooms(this.#db, Date.now());
    migrateActions(this.#db);
    migrateDropped(this.#db);
    const visible = VISIBLE_TO_USER;
    const prepare = (sql: string) => this.#db.prepare(sql);
    const withQuote = MESSAGE_WITH_QUOTE;
    this.#q = {
      canonicalId: prepare("SELECT id FROM identities WHERE id = ?"),
      createIdentity: prepare(
        "INSERT INTO identities (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
      ),
      identity: prepare("SELECT * FROM identities WHERE id = ?"),
      sessionByToken: prepare(
        `SELECT s.id AS s_id, s.token_hash AS s_hash, s.rotated_at, s.created_at AS s_created,
           s.last_seen_at, s.address, s.revoked_at, i.*
         FROM sessions s JOIN identities i ON i.id = s.user_id
         WHERE (s.token_hash = :hash OR s.prev_hash = :hash) AND i.name = :name`,
      ),
      createSession: prepare(
        `INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, address)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      trimSessions: prepare(
        `DELETE FROM sessions WHERE user_id = :user AND id NOT IN
           (SELECT id FROM sessions WHERE user_id = :user ORDER BY last_seen_at DESC LIMIT :keep)`,
      ),
      rotateSession: prepare(
        `UPDATE sessions SET prev_hash = :presented, token_hash = :hash, rotated_at = :now,
           last_seen_at = :now, address = :address WHERE id = :id`,
      ),
      sessions: prepare(
        `SELECT * FROM sessions WHERE user_id = ? AND revoked_at IS NULL
         ORDER BY last_seen_at DESC, created_at DESC`,
      ),
      revokeOthers: prepare(
        `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND id != ? AND revoked_at IS NULL`,
      ),
      setLastSeq: prepare("UPDATE identities SET last_seq = ? WHERE id = ?"),
      insertMessage: prepare(
        `INSERT INTO messages (id, sender, recipients, room, text, time, reply_to, expires_at,
           action) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertAudience: prepare("INSERT OR IGNORE INTO audience (user_id, seq) VALUES (?, ?)"),
      message: prepare(`SELECT ${withQuote} WHERE m.id = ? AND m.purged IS NULL`),
      visibleMessage: prepare(`SELECT ${withQuote} WHERE m.id = :id AND ${visible}`),
      // the audience comes back with it, to be told: no read before the write
      purge: prepare(
        `UPDATE messages SET text = '', purged = ?,
           purged_after = (${LATEST_SEQ}) WHERE id = ? AND purged IS NULL
         RETURNING id, sender, recipients, room`,
      ),
      tombstone: prepare("SELECT id, sender, recipients, room, purged FROM messages WHERE id = ?"),
      insertSentRef: prepare(
        "INSERT OR IGNORE INTO sent_refs (user_id, ref, message_id, time) VALUES (?, ?, ?, ?)",
      ),
      sentRef: prepare("SELECT message_id FROM sent_refs WHERE user_id = ? AND ref = ?"),
      pruneSentRefs: prepare("DELETE FROM sent_refs WHERE time < ?"),
      purgesAfter: prepare(
        `SELECT m.id, m.seq, m.purged, m.purged_after FROM messages m
         WHERE m.purged_after >= :since AND m.purged_after <= :upto AND m.seq <= :atOrBefore
           AND (m.purged_after > :fromAfter OR (m.purged_after = :fromAfter AND m.seq > :fromSeq))
           AND m.purged IS NOT NULL AND ${AUDIENCE_INCLUDES_USER}
         ORDER BY m.purged_after, m.seq LIMIT :limit`,
      ),
      pendingExpiries: prepare(
        "SELECT id, expires_at FROM messages WHERE expires_at IS NOT NULL AND purged IS NULL",
      ),
      searchVisible: prepare(
        `SELECT ${withQuote} WHERE (:room IS NULL OR m.room = :room) AND ${visible}
         ORDER BY m.seq DESC`,
      ),
      seqOf: prepare("SELECT seq FROM messages WHERE id = ?"),
      directAfter: prepare(
        `SELECT ${withQuote} JOIN audience a ON m.seq = a.seq
         WHERE a.user_id = :user AND a.seq > :after AND a.seq <= :upto AND m.purged IS NULL
         ORDER BY a.seq LIMIT :limit`,
      ),
      directStart: prepare(
        `SELECT a.seq FROM audience a JOIN messages m ON m.seq = a.seq
         WHERE a.user_id = :user AND a.seq > :after AND a.seq <= :upto AND m.purged IS NULL
         ORDER BY a.seq DESC LIMIT 1 OFFSET :keep`,
      ),
      roomBefore: prepare(
        `SELECT ${withQuote} WHERE m.room = :room AND m.seq < :before AND ${visible}
         ORDER BY m.seq DESC LIMIT :limit`,
      ),
      // the visible messages of one source (a room, or a user's direct messages) by seq, strictly
      // between :low and :high: one index range each (see #visibleSeqs)
      roomSeqsDesc: prepare(
        `SELECT seq FROM messages WHERE room = :room AND purged IS NULL
           AND seq > :low AND seq < :high ORDER BY seq DESC LIMIT :limit`,
      ),
      roomSeqsAsc: prepare(
        `SELECT seq FROM messages WHERE room = :room AND purged IS NULL
           AND seq > :low AND seq < :high ORDER BY seq LIMIT :limit`,
      ),
      directSeqsDesc: prepare(
        `SELECT a.seq FROM audience a JOIN messages m ON m.seq = a.seq
         WHERE a.user_id = :user AND a.seq > :low AND a.seq < :high AND m.purged IS NULL
         ORDER BY a.seq DESC LIMIT :limit`,
      ),
      directSeqsAsc: prepare(
        `SELECT a.seq FROM audience a JOIN messages m ON m.seq = a.seq
         WHERE a.user_id = :user AND a.seq > :low AND a.seq < :high AND m.purged IS NULL
         ORDER BY a.seq LIMIT :limit`,
      ),
      bySeqs: prepare(
        `SELECT ${withQuote} WHERE m.seq IN (SELECT value FROM json_each(?)) ORDER BY m.seq`,
      ),
      memberOf: prepare("SELECT room FROM room_members WHERE user_id = ?"),
      rooms: prepare(
        `SELECT r.*, (SELECT COUNT(*) FROM room_members m WHERE m.room = r.name) AS members
         FROM rooms r WHERE r.dropped = 0`,
      ),
      droppedRooms: prepare("SELECT name FROM rooms WHERE dropped = 1 ORDER BY name"),
      markDropped: prepare("UPDATE rooms SET dropped = 1 WHERE name = ? AND dropped = 0"),
      dropMembers: prepare("DELETE FROM room_members WHERE room = ?"),
      dropOperators: prepare("DELETE FROM room_operators WHERE room = ?"),
      dropInvites: prepare("DELETE FROM room_invites WHERE room = ?"),
      dropRestrictions: prepare("DELETE FROM restrictions WHERE scope = ?"),
      // the oldest of a dropped room's messages, live or purged, by the index on (room, seq)
      dropMessages: prepare(
        `DELETE FROM messages WHERE seq IN
           (SELECT seq FROM messages WHERE room = :room ORDER BY seq LIMIT :limit)`,
      ),
      deleteRoom: prepare("DELETE FROM rooms WHERE name = ? AND dropped = 1"),
      roomsOf: prepare("SELECT room FROM room_members WHERE user_id = ? ORDER BY joined_at, room"),
      isMember: prepare("SELECT 1 FROM room_members WHERE user_id = ? AND room = ?"),
      createRoom: prepare(
        "INSERT INTO rooms (name, private, creator, created_at) VALUES (?, ?, ?, ?)",
      ),
      addOperator: prepare("INSERT OR IGNORE INTO room_operators (room, user_id) VALUES (?, ?)"),
      isOperator: prepare("SELECT 1 FROM room_operators WHERE user_id = ? AND room = ?"),
      addMember: prepare(
        "INSERT OR IGNORE INTO room_members (user_id, room, joined_at) VALUES (?, ?, ?)",
      ),
      removeMember: prepare("DELETE FROM room_members WHERE user_id = ? AND room = ?"),
      setTopic: prepare("UPDATE rooms SET topic = ?, topic_by = ?, topic_at = ? WHERE name = ?"),
      setPrivate: prepare("UPDATE rooms SET private = ? WHERE name = ?"),
      invite: prepare(
        `INSERT OR REPLACE INTO room_invites (room, user_id, invited_by, time)
         VALUES (?, ?, ?, ?)`,
      ),
      trimInvites: prepare(
        `DELETE FROM room_invites WHERE room = :room AND user_id NOT IN
           (SELECT user_id FROM room_invites WHERE room = :room ORDER BY time DESC LIMIT :keep)`,
      ),
      isInvited: prepare("SELECT 1 FROM room_invites WHERE user_id = ? AND room = ?"),
      uninvite: prepare("DELETE FROM room_invites WHERE user_id = ? AND room = ?"),
      latestSeq: prepare(`SELECT (${LATEST_SEQ}) AS seq`),
      isServerOperator: prepare("SELECT 1 FROM server_operators WHERE user_id = ?"),
      serverOperators: prepare("SELECT user_id FROM server_operators ORDER BY granted_at, user_id"),
      addServerOperator: prepare(
        "INSERT OR IGNORE INTO server_operators (user_id, granted_at) VALUES (?, ?)",
      ),
      removeServerOperator: prepare("DELETE FROM server_operators WHERE user_id = ?"),
      roomCreator: prepare("SELECT creator FROM rooms WHERE name = ?"),
      roomOperators: prepare("SELECT user_id FROM room_operators WHERE room = ? ORDER BY user_id"),
      countRoomOperators: prepare("SELECT COUNT(*) AS n FROM room_operators WHERE room = ?"),
      removeOperator: prepare("DELETE FROM room_operators WHERE room = ? AND user_id = ?"),
      restrict: prepare(
        `INSERT OR REPLACE INTO restrictions
           (kind, scope, target, on_address, by, reason, time, until)
         VALUES (:kind, :scope, :target, :onAddress, :by, :reason, :time, :until)`,
      ),
      restriction: prepare(
        `SELECT * FROM restrictions WHERE kind = :kind AND scope = :scope AND target = :target
           AND (until IS NULL OR until > :now)`,
      ),
      lift: prepare(
        `DELETE FROM restrictions WHERE kind = :kind AND scope = :scope AND target = :target
         RETURNING until`,
      ),
      // by the target's index: the primary key begins with kind, and SQLite (no statistics)
      // would otherwise walk every mute on the server for each hello
      restrictionsOf: prepare(
        `SELECT * FROM restrictions INDEXED BY restrictions_by_target
         WHERE target = :target AND kind = :kind
           AND (until IS NULL OR until > :now)`,
      ),
      restrictionsIn: prepare(
        `SELECT * FROM restrictions WHERE scope = :scope AND (until IS NULL OR until > :now)
         ORDER BY time DESC, kind, target LIMIT :limit OFFSET :offset`,
      ),
      countRestrictions: prepare(
        `SELECT COUNT(*) AS n FROM restrictions WHERE scope = :scope
           AND (until IS NULL OR until > :now)`,
      ),
      // ended ones too, until they are pruned: one walk of the index, no row read
      countInScope: prepare("SELECT COUNT(*) AS n FROM restrictions WHERE scope = :scope"),
      pruneRestrictions: prepare(
        `DELETE FROM restrictions WHERE (kind, scope, target) IN
           (SELECT kind, scope, target FROM restrictions
            WHERE until IS NOT NULL AND until <= :now LIMIT :limit)`,
      ),
      logModeration: prepare(
        `INSERT INTO modlog (time, action, by, room, user_id, address, reason, until, message)
         VALUES (:time, :action, :by, :room, :user, :address, :reason, :until, :message)`,
      ),
      trimModlog: prepare("DELETE FROM modlog WHERE seq <= :newest - :keep"),
      modlog: prepare(
        "SELECT * FROM modlog WHERE seq < :before ORDER BY seq DESC LIMIT :limit",
      ),
      roomModlog: prepare(
        "SELECT * FROM modlog WHERE room = :room AND seq < :before ORDER BY seq DESC LIMIT :limit",
      ),
    };
  }

  canonicalId(id: string): string | null {
    const row = this.#q.canonicalId.get(id);
    return row ? row.id as string : null;
  }

  createIdentity(identity: Omit<Identity, "lastSeq">, address = ""): string {
    return this.#transaction(() => {
      const { id, name, tokenHash, createdAt } = identity;
      this.#q.createIdentity.run(id, name, tokenHash, createdAt);
      const session = newSessionId();
      this.#q.createSession.run(session, id, tokenHash, createdAt, createdAt, address);
      this.#q.addMember.run(id, GENERAL_ROOM, createdAt);
      return session;
    });
  }

  sessionByToken(name: string, tokenHash: string): TokenMatch | null {
    const row = this.#q.sessionByToken.get({ hash: tokenHash, name });
    return row ? toTokenMatch(row, tokenHash) : null;
  }

  rotateSession(
    sessionId: string,
    presentedHash: string,
    tokenHash: string,
    now: number,
    address: string,
  ): void {
    this.#q.rotateSession.run({
      id: sessionId,
      presented: presentedHash,
      hash: tokenHash,
      now,
      address,
    });
  }

  createSession(
    userId: string,
    tokenHash: string,
    now: number,
    address: string,
    keep: number,
  ): string {
    return this.#transaction(() => {
      const session = newSessionId();
      this.#q.createSession.run(session, userId, tokenHash, now, now, address);
      this.#q.trimSessions.run({ user: userId, keep });
      return session;
    });
  }

  sessions(userId: string): Session[] {
    return this.#q.sessions.all(userId).map((row) => ({
      id: row.id as string,
      userId: row.user_id as string,
      createdAt: row.created_at as number,
      lastSeenAt: row.last_seen_at as number,
      address: row.address as string,
    }));
  }

  revokeOtherSessions(userId: string, keepSessionId: string, now: number): number {
    return Number(this.#q.revokeOthers.run(now, userId, keepSessionId).changes);
  }

  /** Runs `fn` in one write transaction (within one already open, as part of it). */
  #transaction<T>(fn: () => T): T {
    if (this.#db.isTransaction) return fn();
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      this.#rollback();
      throw error;
    }
  }

  identity(id: string): Identity | null {
    const row = this.#q.identity.get(id);
    return row ? toIdentity(row) : null;
  }

  setLastSeq(id: string, seq: number): void {
    this.#q.setLastSeq.run(seq, id);
  }

  commit(writes: readonly Write[]): Written[] {
    const results: Written[] = [];
    let purged = false;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const write of writes) {
        if (write.kind === "dropRoom") {
          const { room, limit } = write;
          const removed = Number(this.#q.dropMessages.run({ room, limit }).changes);
          const done = removed < limit;
          if (done) this.#q.deleteRoom.run(room);
          results.push({ removed, done });
          purged ||= removed > 0;
          continue;
        }
        if (write.kind === "purge") {
          const row = this.#q.purge.get(write.reason, write.id);
          results.push(row ? { purged: toPurged(row) } : { purged: null });
          purged ||= row !== undefined;
          continue;
        }
        const { message, clientRef } = write;
        if (clientRef !== undefined) {
          const claimed = this.#q.insertSentRef.run(
            message.from,
            clientRef,
            message.id,
            message.time,
          );
          if (claimed.changes === 0) {
            // this user's request was stored before: the same message, not a new one
            const row = this.#q.sentRef.get(message.from, clientRef)!;
            results.push({ duplicateOf: row.message_id as string });
            continue;
          }
        }
        const result = this.#q.insertMessage.run(
          message.id,
          message.from,
          message.to ? JSON.stringify(message.to) : null,
          message.to ? null : message.room ?? null,
          message.text,
          message.time,
          message.replyTo ?? null,
          message.expiresAt ?? null,
          message.action ? 1 : null,
        );
        const seq = Number(result.lastInsertRowid);
        if (message.to) {
          this.#q.insertAudience.run(message.from, seq);
          for (const id of message.to) this.#q.insertAudience.run(id, seq);
        }
        results.push({ ...message, seq });
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#rollback();
      throw error;
    }
    // the WAL still holds the purged text's old page images: fold it in and empty it, once
    if (purged) this.#checkpointOwed = true;
    this.#truncateWal();
    return results;
  }

  message(id: string): StoredMessage | null {
    const row = this.#q.message.get(id);
    return row ? toMessage(row) : null;
  }

  seqOf(id: string): number | null {
    const row = this.#q.seqOf.get(id);
    return row ? row.seq as number : null;
  }

  messagesAfter(
    userId: string,
    after: number,
    upto: number,
    limit: number,
    directOnly = false,
  ): StoredMessage[] {
    if (directOnly) {
      return this.#q.directAfter.all({ user: userId, after, upto, limit }).map(toMessage);
    }
    return this.#bySeqs(this.#visibleSeqs(userId, after, upto + 1, limit, false));
  }

  newestStart(
    userId: string,
    after: number,
    upto: number,
    keep: number,
    directOnly = false,
  ): number | null {
    if (directOnly) {
      const row = this.#q.directStart.get({ user: userId, after, upto, keep });
      return row ? row.seq as number : null;
    }
    const seqs = this.#visibleSeqs(userId, after, upto + 1, keep + 1, true);
    return seqs.length > keep ? seqs[keep] : null;
  }

  /**
   * The seqs of the live messages `userId` may see strictly between `low` and `high`, newest
   * first (`desc`) or oldest first, at most `count`: merged from one index range per room they
   * are in and one for their direct messages, each read a page at a time. What it reads is what
   * they may see (and at most a page more per room), never the messages of rooms they are not
   * in: one condition over every message was a scan of all of them for whoever sees little
   * (190 ms per request over 300,000 messages of a room the user was not in, on the event loop).
   */
  #visibleSeqs(userId: string, low: number, high: number, count: number, desc: boolean): number[] {
    if (count <= 0 || high - low <= 1) return [];
    const roomQuery = desc ? this.#q.roomSeqsDesc : this.#q.roomSeqsAsc;
    const directQuery = desc ? this.#q.directSeqsDesc : this.#q.directSeqsAsc;
    const read =
      (query: StatementSync, key: Record<string, string>) => (from: number, limit: number) =>
        query.all(desc ? { ...key, low, high: from, limit } : { ...key, low: from, high, limit })
          .map((row) => row.seq as number);
    const sources: Source[] = [
      ...this.#q.memberOf.all(userId).map((row) => read(roomQuery, { room: row.room as string })),
      read(directQuery, { user: userId }),
    ].map((next) => ({ next, page: [], at: 0, from: desc ? high : low, size: 0, done: false }));
    const out: number[] = [];
    while (out.length < count) {
      let best: Source | undefined;
      for (const source of sources) {
        if (source.at >= source.page.length && !source.done) {
          // pages grow: a busy room costs few reads, a quiet one a small one
          source.size = Math.min(Math.max(source.size * 2, 32), VISIBLE_PAGE_MAX, count);
          source.page = source.next(source.from, source.size);
          source.at = 0;
          source.done = source.page.length < source.size;
          if (source.page.length > 0) source.from = source.page[source.page.length - 1];
        }
        if (source.at >= source.page.length) continue;
        const seq = source.page[source.at];
        if (!best || (desc ? seq > best.page[best.at] : seq < best.page[best.at])) best = source;
      }
      if (!best) break;
      out.push(best.page[best.at++]);
    }
    return out;
  }

  /** The messages of these seqs (with their quotes), oldest first. */
  #bySeqs(seqs: readonly number[]): StoredMessage[] {
    if (seqs.length === 0) return [];
    return this.#q.bySeqs.all(JSON.stringify(seqs)).map(toMessage);
  }

  purgesAfter(userId: string, range: PurgeRange, limit: number): Purge[] {
    return this.#q.purgesAfter.all({
      user: userId,
      since: range.since,
      upto: range.upto,
      atOrBefore: range.atOrBefore,
      fromAfter: range.from?.after ?? -1,
      fromSeq: range.from?.seq ?? -1,
      limit,
    }).map(toPurge);
  }

  visibleBefore(
    userId: string,
    beforeId: string | undefined,
    limit: number,
    room?: string,
  ): StoredMessage[] {
    let before = Number.MAX_SAFE_INTEGER;
    if (beforeId !== undefined) {
      const row = this.#q.seqOf.get(beforeId);
      if (!row) return [];
      before = row.seq as number;
    }
    if (room === undefined) return this.#bySeqs(this.#visibleSeqs(userId, 0, before, limit, true));
    return this.#q.roomBefore.all({ user: userId, before, limit, room }).map(toMessage).reverse();
  }

  visibleMessage(userId: string, id: string): StoredMessage | null {
    const row = this.#q.visibleMessage.get({ user: userId, id });
    return row ? toMessage(row) : null;
  }

  rooms(): StoredRoom[] {
    return this.#q.rooms.all().map(toRoom);
  }

  roomsOf(userId: string): string[] {
    return this.#q.roomsOf.all(userId).map((row) => row.room as string);
  }

  isMember(userId: string, room: string): boolean {
    return this.#q.isMember.get(userId, room) !== undefined;
  }

  joinRoom(userId: string, room: string, now: number, create?: { private: boolean }): void {
    this.#transaction(() => {
      if (create) {
        this.#q.createRoom.run(room, create.private ? 1 : 0, userId, now);
        this.#q.addOperator.run(room, userId);
      }
      this.#q.addMember.run(userId, room, now);
      this.#q.uninvite.run(userId, room);
    });
  }

  partRoom(userId: string, room: string): void {
    this.#transaction(() => {
      this.#q.removeMember.run(userId, room);
      // (a ban takes them out: an invitation from before it does not let them back in)
      this.#q.uninvite.run(userId, room);
    });
  }

  setTopic(room: string, topic: string, by: string, now: number): void {
    this.#q.setTopic.run(topic, by, now, room);
  }

  setPrivate(room: string, isPrivate: boolean): void {
    this.#q.setPrivate.run(isPrivate ? 1 : 0, room);
  }

  isOperator(userId: string, room: string): boolean {
    return this.#q.isOperator.get(userId, room) !== undefined;
  }

  invite(room: string, userId: string, by: string, now: number, keep: number): void {
    this.#transaction(() => {
      this.#q.invite.run(room, userId, by, now);
      this.#q.trimInvites.run({ room, keep });
    });
  }

  isInvited(userId: string, room: string): boolean {
    return this.#q.isInvited.get(userId, room) !== undefined;
  }

  dropRoom(room: string): boolean {
    return this.#transaction(() => {
      if (this.#q.markDropped.run(room).changes === 0) return false;
      this.#q.dropMembers.run(room);
      this.#q.dropOperators.run(room);
      this.#q.dropInvites.run(room);
      this.#q.dropRestrictions.run(room);
      return true;
    });
  }

  droppedRooms(): string[] {
    return this.#q.droppedRooms.all().map((row) => row.name as string);
  }

  atomically<T>(fn: () => T): T {
    return this.#transaction(fn);
  }

  isServerOperator(userId: string): boolean {
    return this.#q.isServerOperator.get(userId) !== undefined;
  }

  serverOperators(): string[] {
    return this.#q.serverOperators.all().map((row) => row.user_id as string);
  }

  addServerOperator(userId: string, now: number): boolean {
    return this.#q.addServerOperator.run(userId, now).changes > 0;
  }

  removeServerOperator(userId: string): boolean {
    return this.#q.removeServerOperator.run(userId).changes > 0;
  }

  roomCreator(room: string): string | null {
    const row = this.#q.roomCreator.get(room);
    return (row?.creator as string | null | undefined) ?? null;
  }

  roomOperators(room: string): string[] {
    return this.#q.roomOperators.all(room).map((row) => row.user_id as string);
  }

  addRoomOperator(room: string, userId: string, keep: number): boolean {
    return this.#transaction(() => {
      if (this.#q.isOperator.get(userId, room) !== undefined) return true;
      const count = (this.#q.countRoomOperators.get(room) as Row).n as number;
      if (count >= keep) return false;
      this.#q.addOperator.run(room, userId);
      return true;
    });
  }

  removeRoomOperator(room: string, userId: string): boolean {
    return this.#q.removeOperator.run(room, userId).changes > 0;
  }

  restrict(restriction: StoredRestriction, keep: number): boolean {
    return this.#transaction(() => {
      const { kind, scope, target, time } = restriction;
      const replacing = this.#q.restriction.get({ kind, scope, target, now: time }) !== undefined;
      const count = (this.#q.countInScope.get({ scope }) as Row).n as number;
      if (!replacing && count >= keep) return false;
      this.#q.restrict.run({
        kind,
        scope,
        target,
        onAddress: restriction.onAddress ? 1 : 0,
        by: restriction.by,
        reason: restriction.reason ?? null,
        time,
        until: restriction.until ?? null,
      });
      return true;
    });
  }

  lift(kind: RestrictionKind, scope: string, target: string, now: number): boolean {
    const row = this.#q.lift.get({ kind, scope, target });
    return row !== undefined && (row.until === null || (row.until as number) > now);
  }

  restriction(
    kind: RestrictionKind,
    scope: string,
    target: string,
    now: number,
  ): StoredRestriction | null {
    const row = this.#q.restriction.get({ kind, scope, target, now });
    return row ? toRestriction(row) : null;
  }

  restrictionsOf(target: string, kind: RestrictionKind, now: number): StoredRestriction[] {
    return this.#q.restrictionsOf.all({ target, kind, now }).map(toRestriction);
  }

  restrictions(
    scope: string,
    now: number,
    offset: number,
    limit: number,
  ): { total: number; restrictions: StoredRestriction[] } {
    const total = (this.#q.countRestrictions.get({ scope, now }) as Row).n as number;
    const restrictions = this.#q.restrictionsIn.all({ scope, now, offset, limit })
      .map(toRestriction);
    return { total, restrictions };
  }

  pruneRestrictions(now: number, limit: number): number {
    return Number(this.#q.pruneRestrictions.run({ now, limit }).changes);
  }

  logModeration(entry: NewModlogEntry, keep: number): number {
    return this.#transaction(() => {
      const result = this.#q.logModeration.run({
        time: entry.time,
        action: entry.action,
        by: entry.by,
        room: entry.room ?? null,
        user: entry.user ?? null,
        address: entry.address ?? null,
        reason: entry.reason ?? null,
        until: entry.until ?? null,
        message: entry.message ?? null,
      });
      const id = Number(result.lastInsertRowid);
      this.#q.trimModlog.run({ newest: id, keep });
      return id;
    });
  }

  modlog(room: string | undefined, before: number | undefined, limit: number): ModlogRow[] {
    const upto = before ?? Number.MAX_SAFE_INTEGER;
    const rows = room === undefined
      ? this.#q.modlog.all({ before: upto, limit })
      : this.#q.roomModlog.all({ room, before: upto, limit });
    return rows.map(toModlog);
  }

  /**
   * Folds the WAL into the database and empties it, so purged text leaves no old page image
   * behind. The purge is committed whatever happens here: a checkpoint that cannot finish
   * (a reader holds an old snapshot, the disk is full) is owed, and retried after the next
   * write until it succeeds.
   */
  #truncateWal(): void {
    if (!this.#checkpointOwed) return;
    try {
      const row = this.#db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get() as Row;
      // busy = 1: a reader kept it from finishing; the WAL still holds the pages
      if (row.busy === 0) this.#checkpointOwed = false;
    } catch {
      // stays owed
    }
  }

  /** Undoes an open transaction. SQLite has already rolled back after some failures (a full disk). */
  #rollback(): void {
    if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
  }

  sentRef(userId: string, ref: string): string | null {
    const row = this.#q.sentRef.get(userId, ref);
    return row ? row.message_id as string : null;
  }

  forgetSentRefs(before: number): void {
    this.#q.pruneSentRefs.run(before);
  }

  tombstone(id: string): Tombstone | null {
    const row = this.#q.tombstone.get(id);
    return row ? { ...toPurged(row), purged: row.purged !== null } : null;
  }

  pendingExpiries(): { id: string; expiresAt: number }[] {
    return this.#q.pendingExpiries.all().map((row) => ({
      id: row.id as string,
      expiresAt: row.expires_at as number,
    }));
  }

  protected searchRows(userId: string, room: string | undefined): Iterable<Row> {
    return this.#q.searchVisible.iterate({ user: userId, room: room ?? null });
  }

  latestSeq(): number {
    return (this.#q.latestSeq.get() as Row).seq as number;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

/** Databases from before sessions: each id's token becomes its one session. */
function migrateSessions(db: DatabaseSync): void {
  const sessions = db.prepare("SELECT COUNT(*) AS n FROM sessions").get() as Row;
  if ((sessions.n as number) > 0) return;
  db.exec(
    `INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at)
     SELECT lower(hex(randomblob(6))), id, token_hash, created_at, created_at FROM identities`,
  );
}

/**
 * Databases from before rooms: every public message goes to GENERAL_ROOM and everyone is in it,
 * in the one transaction that adds the column. GENERAL_ROOM exists in every database.
 */
function migrateRooms(db: DatabaseSync, now: number): void {
  const columns = db.prepare("PRAGMA table_info(messages)").all() as Row[];
  db.exec("BEGIN IMMEDIATE");
  try {
    const general = db.prepare("INSERT OR IGNORE INTO rooms (name, created_at) VALUES (?, ?)")
      .run(GENERAL_ROOM, now);
    if (!columns.some((c) => c.name === "room")) {
      db.exec("ALTER TABLE messages ADD COLUMN room TEXT");
      db.prepare("UPDATE messages SET room = ? WHERE recipients IS NULL").run(GENERAL_ROOM);
    }
    if (general.changes > 0) {
      db.prepare(
        `INSERT OR IGNORE INTO room_members (user_id, room, joined_at)
         SELECT id, ?, created_at FROM identities`,
      ).run(GENERAL_ROOM);
    }
    db.exec("COMMIT");
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
  db.exec(
    "CREATE INDEX IF NOT EXISTS messages_by_room ON messages(room, seq) WHERE room IS NOT NULL",
  );
  // a room's live messages by seq, read without touching the table: what its members may see
  db.exec(
    `CREATE INDEX IF NOT EXISTS messages_live_by_room ON messages(room, seq)
     WHERE room IS NOT NULL AND purged IS NULL`,
  );
}

/** Databases from before rooms could be removed: rooms get the column, 0 (not being removed). */
function migrateDropped(db: DatabaseSync): void {
  const columns = db.prepare("PRAGMA table_info(rooms)").all() as Row[];
  if (!columns.some((c) => c.name === "dropped")) {
    db.exec("ALTER TABLE rooms ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0");
  }
}

/** Databases from before actions (/me): messages get the column, NULL (not an action). */
function migrateActions(db: DatabaseSync): void {
  const columns = db.prepare("PRAGMA table_info(messages)").all() as Row[];
  if (!columns.some((c) => c.name === "action")) {
    db.exec("ALTER TABLE messages ADD COLUMN action INTEGER");
  }
}
