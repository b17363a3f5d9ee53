/**
 * The embedded store on node:sqlite. WAL with synchronous=NORMAL: a committed transaction
 * survives the process being killed (it is in the WAL, handed to the OS); only a power cut
 * can cost the last commits.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  type Identity,
  type Inserted,
  type NewMessage,
  quoteOf,
  type Replay,
  type Store,
  type StoredMessage,
} from "./store.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS identities (
  id TEXT PRIMARY KEY COLLATE NOCASE, -- Tom_0001 and tom_0001 must not both exist
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS identities_by_token ON identities(token_hash);
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  sender TEXT NOT NULL,
  recipients TEXT,            -- JSON array of ids; NULL for a public message
  text TEXT NOT NULL,
  time INTEGER NOT NULL,
  reply_to TEXT,
  expires_at INTEGER,
  purged TEXT,                -- NULL while live; 'deleted' or 'expired' once the text is gone
  purged_after INTEGER        -- the newest seq when it was purged: where resume replays it
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
`;

type Row = Record<string, unknown>;

/** Opens (creating if needed) the database at `path`; ":memory:" works for tests. */
export class SqliteStore implements Store {
  #db: DatabaseSync;
  #q: Record<string, StatementSync>;

  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = NORMAL");
    this.#db.exec("PRAGMA foreign_keys = ON");
    this.#db.exec("PRAGMA busy_timeout = 5000");
    // freed content is overwritten with zeros, so a purged text is not left in free pages
    this.#db.exec("PRAGMA secure_delete = ON");
    this.#db.exec(SCHEMA);
    const visible = `m.purged IS NULL AND (m.recipients IS NULL OR EXISTS
      (SELECT 1 FROM audience a WHERE a.user_id = :user AND a.seq = m.seq))`;
    const prepare = (sql: string) => this.#db.prepare(sql);
    // every message read carries what a reply needs to quote: the original's author and text,
    // or that it was purged (its text is gone, so nothing can leak through a quote)
    const withQuote = `m.*, o.sender AS q_from, o.text AS q_text, o.purged AS q_purged
      FROM messages m LEFT JOIN messages o ON o.id = m.reply_to`;
    this.#q = {
      canonicalId: prepare("SELECT id FROM identities WHERE id = ?"),
      createIdentity: prepare(
        "INSERT INTO identities (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
      ),
      identity: prepare("SELECT * FROM identities WHERE id = ?"),
      identityByToken: prepare("SELECT * FROM identities WHERE token_hash = ? AND name = ?"),
      setLastSeq: prepare("UPDATE identities SET last_seq = ? WHERE id = ?"),
      insertMessage: prepare(
        `INSERT INTO messages (id, sender, recipients, text, time, reply_to, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertAudience: prepare("INSERT OR IGNORE INTO audience (user_id, seq) VALUES (?, ?)"),
      recentVisible: prepare(
        `SELECT ${withQuote} WHERE ${visible} ORDER BY m.seq DESC LIMIT :limit`,
      ),
      directSince: prepare(
        `SELECT ${withQuote} JOIN audience a ON m.seq = a.seq
         WHERE a.user_id = :user AND a.seq > :after AND m.purged IS NULL
         ORDER BY a.seq DESC LIMIT :limit`,
      ),
      message: prepare(`SELECT ${withQuote} WHERE m.id = ? AND m.purged IS NULL`),
      purge: prepare(
        `UPDATE messages SET text = '', purged = ?,
           purged_after = (SELECT MAX(seq) FROM messages) WHERE id = ? AND purged IS NULL`,
      ),
      tombstone: prepare("SELECT id, sender, purged FROM messages WHERE id = ?"),
      insertSentRef: prepare(
        "INSERT OR IGNORE INTO sent_refs (user_id, ref, message_id, time) VALUES (?, ?, ?, ?)",
      ),
      sentRef: prepare("SELECT message_id FROM sent_refs WHERE user_id = ? AND ref = ?"),
      pruneSentRefs: prepare("DELETE FROM sent_refs WHERE time < ?"),
      purgedSince: prepare(
        `SELECT m.id, m.purged, m.purged_after FROM messages m
         WHERE m.seq <= :after AND m.purged IS NOT NULL AND m.purged_after >= :after
           AND (m.recipients IS NULL OR EXISTS
             (SELECT 1 FROM audience a WHERE a.user_id = :user AND a.seq = m.seq))
         ORDER BY m.purged_after DESC LIMIT :limit`,
      ),
      pendingExpiries: prepare(
        "SELECT id, expires_at FROM messages WHERE expires_at IS NOT NULL AND purged IS NULL",
      ),
      searchVisible: prepare(`SELECT ${withQuote} WHERE ${visible} ORDER BY m.seq DESC`),
      seqOf: prepare("SELECT seq FROM messages WHERE id = ?"),
      newestVisibleAfter: prepare(
        `SELECT ${withQuote} WHERE m.seq > :after AND ${visible} ORDER BY m.seq DESC LIMIT :limit`,
      ),
      visibleBefore: prepare(
        `SELECT ${withQuote} WHERE m.seq < :before AND ${visible}
         ORDER BY m.seq DESC LIMIT :limit`,
      ),
      latestSeq: prepare("SELECT COALESCE(MAX(seq), 0) AS seq FROM messages"),
    };
  }

  canonicalId(id: string): string | null {
    const row = this.#q.canonicalId.get(id);
    return row ? row.id as string : null;
  }

  createIdentity(identity: Omit<Identity, "lastSeq">): void {
    this.#q.createIdentity.run(identity.id, identity.name, identity.tokenHash, identity.createdAt);
  }

  identity(id: string): Identity | null {
    const row = this.#q.identity.get(id);
    return row ? toIdentity(row) : null;
  }

  identityByToken(name: string, tokenHash: string): Identity | null {
    const row = this.#q.identityByToken.get(tokenHash, name);
    return row ? toIdentity(row) : null;
  }

  setLastSeq(id: string, seq: number): void {
    this.#q.setLastSeq.run(seq, id);
  }

  insertMessage(message: NewMessage, clientRef?: string): StoredMessage {
    const [result] = this.insertMessages([{ message, clientRef }]);
    if ("duplicateOf" in result) throw new Error(`request ${clientRef} was already stored`);
    return result;
  }

  insertMessages(batch: readonly { message: NewMessage; clientRef?: string }[]): Inserted[] {
    const stored: Inserted[] = [];
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const { message, clientRef } of batch) {
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
            stored.push({ duplicateOf: row.message_id as string });
            continue;
          }
        }
        const result = this.#q.insertMessage.run(
          message.id,
          message.from,
          message.to ? JSON.stringify(message.to) : null,
          message.text,
          message.time,
          message.replyTo ?? null,
          message.expiresAt ?? null,
        );
        const seq = Number(result.lastInsertRowid);
        if (message.to) {
          this.#q.insertAudience.run(message.from, seq);
          for (const id of message.to) this.#q.insertAudience.run(id, seq);
        }
        stored.push({ ...message, seq });
      }
      this.#db.exec("COMMIT");
      return stored;
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  message(id: string): StoredMessage | null {
    const row = this.#q.message.get(id);
    return row ? toMessage(row) : null;
  }

  recentVisible(userId: string, limit: number): StoredMessage[] {
    return this.#q.recentVisible.all({ user: userId, limit }).map(toMessage).reverse();
  }

  directSince(userId: string, afterSeq: number, limit: number): StoredMessage[] {
    // the newest of them when there are more: what is current matters most
    return this.#q.directSince.all({ user: userId, after: afterSeq, limit }).map(toMessage)
      .reverse();
  }

  visibleBefore(userId: string, beforeId: string | undefined, limit: number): StoredMessage[] {
    let before = Number.MAX_SAFE_INTEGER;
    if (beforeId !== undefined) {
      const row = this.#q.seqOf.get(beforeId);
      if (!row) return [];
      before = row.seq as number;
    }
    return this.#q.visibleBefore.all({ user: userId, before, limit }).map(toMessage).reverse();
  }

  purge(ids: readonly string[], reason: "deleted" | "expired"): StoredMessage[] {
    const purged: StoredMessage[] = [];
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const id of ids) {
        const row = this.#q.message.get(id);
        if (!row) continue;
        this.#q.purge.run(reason, id);
        purged.push(toMessage(row));
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
    // the WAL still holds the old page images: fold it into the database and empty it
    if (purged.length > 0) this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return purged;
  }

  sentRef(userId: string, ref: string): string | null {
    const row = this.#q.sentRef.get(userId, ref);
    return row ? row.message_id as string : null;
  }

  forgetSentRefs(before: number): void {
    this.#q.pruneSentRefs.run(before);
  }

  tombstone(id: string): { id: string; from: string; purged: boolean } | null {
    const row = this.#q.tombstone.get(id);
    return row
      ? { id: row.id as string, from: row.sender as string, purged: row.purged !== null }
      : null;
  }

  replaySince(userId: string, afterId: string, limit: number): Replay | null {
    const row = this.#q.seqOf.get(afterId);
    if (!row) return null;
    const after = row.seq as number;
    // one more than asked for tells whether older ones were left out
    const newest = this.#q.newestVisibleAfter.all({ user: userId, after, limit: limit + 1 });
    const truncated = newest.length > limit;
    const messages = newest.slice(0, limit).reverse().map(toMessage);
    const purged = this.#q.purgedSince.all({ user: userId, after, limit }).reverse().map((r) => ({
      id: r.id as string,
      reason: r.purged as "deleted" | "expired",
      after: r.purged_after as number,
    }));
    return { messages, purged, truncated };
  }

  pendingExpiries(): { id: string; expiresAt: number }[] {
    return this.#q.pendingExpiries.all().map((row) => ({
      id: row.id as string,
      expiresAt: row.expires_at as number,
    }));
  }

  search(
    userId: string,
    matches: (text: string) => boolean,
    limit: number,
  ): { total: number; messages: StoredMessage[] } {
    let total = 0;
    const messages: StoredMessage[] = [];
    for (const row of this.#q.searchVisible.iterate({ user: userId })) {
      if (!matches(row.text as string)) continue;
      total++;
      if (messages.length < limit) messages.push(toMessage(row));
    }
    return { total, messages };
  }

  latestSeq(): number {
    return (this.#q.latestSeq.get() as Row).seq as number;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

function toIdentity(row: Row): Identity {
  return {
    id: row.id as string,
    name: row.name as string,
    tokenHash: row.token_hash as string,
    createdAt: row.created_at as number,
    lastSeq: row.last_seq as number,
  };
}

function toMessage(row: Row): StoredMessage {
  const message: StoredMessage = {
    seq: row.seq as number,
    id: row.id as string,
    from: row.sender as string,
    text: row.text as string,
    time: row.time as number,
  };
  if (row.recipients !== null) message.to = JSON.parse(row.recipients as string);
  if (row.reply_to !== null) {
    message.replyTo = row.reply_to as string;
    message.quote = row.q_from === null || row.q_purged !== null
      ? { deleted: true }
      : quoteOf({ from: row.q_from as string, text: row.q_text as string });
  }
  if (row.expires_at !== null) message.expiresAt = row.expires_at as number;
  return message;
}
