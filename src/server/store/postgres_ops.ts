/**
 * PostgresStore's SQL, one async operation per Store method, run in the store's worker
 * (postgres_worker.ts) on postgres.js. Each mirrors SqliteStore's method of the same name; rows
 * come back with SQLite's column names and types and are read by rows.ts.
 */
import postgres from "postgres";
import { GENERAL_ROOM } from "../../protocol/schema.ts";
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
import type {
  Identity,
  ModlogRow,
  NewModlogEntry,
  Purge,
  PurgeRange,
  RestrictionKind,
  StoredMessage,
  StoredRestriction,
  StoredRoom,
  TokenMatch,
  Write,
  Written,
} from "./store.ts";
import { COMMIT_LOCK, SCHEMA, SCHEMA_LOCK } from "./postgres_schema.ts";
import { newSessionId } from "./base.ts";

/** A connection, the pool, or a transaction: anything queries run on. */
export type Db = postgres.ISql;

/** The pool, and the connection of the transaction `atomically` holds open (if any). */
export interface Ctx {
  sql: postgres.Sql;
  tx: postgres.ReservedSql | null;
}

/** Connections the store's worker keeps: a commit, a read, and a transaction at once. */
export const POOL_SIZE = 4;

/** Opens the pool on `url`: BIGINT read as numbers (seqs and times stay far below 2^53). */
export function connect(url: string, options: { max?: number } = {}): postgres.Sql {
  return postgres(url, {
    max: options.max ?? POOL_SIZE,
    // CREATE … IF NOT EXISTS says "already exists, skipping" each time: not worth a line
    onnotice: () => {},
    // refused or unreachable: fail within the bridge's timeout, not postgres.js's 30 s
    connect_timeout: 2,
    // after a restart, connect again within a quarter second (postgres.js waits up to 20 s once
    // a few attempts have failed, and every call would time out until then)
    backoff: () => 0.25,
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (x: number) => String(x),
        parse: (x: string) => Number(x),
      },
    },
  });
}

/** SQL condition: `user` may see message `m`, live or purged (SqliteStore's AUDIENCE_INCLUDES_USER). */
export function audienceIncludes(db: Db, user: string) {
  return db`(CASE WHEN m.recipients IS NULL
    THEN EXISTS (SELECT 1 FROM room_members r WHERE r.user_id = ${user} AND r.room = m.room)
    ELSE EXISTS (SELECT 1 FROM audience a WHERE a.user_id = ${user} AND a.seq = m.seq) END)`;
}

/** SQL condition: message `m` is live and `user` may see it (SqliteStore's VISIBLE_TO_USER). */
export function visibleTo(db: Db, user: string) {
  return db`m.purged IS NULL AND ${audienceIncludes(db, user)}`;
}

/** Runs `fn` in one transaction: the one `atomically` holds, or a new one. */
async function inTx<T>(c: Ctx, fn: (db: Db) => Promise<T>): Promise<T> {
  if (c.tx) return await fn(c.tx);
  return await c.sql.begin((db) => fn(db)) as T;
}

/** The connection a statement runs on. */
const on = (c: Ctx): Db => c.tx ?? c.sql;

/** Creates the schema if needed, one node at a time; GENERAL_ROOM exists in every database. */
export async function openSchema(sql: postgres.Sql, now: number): Promise<void> {
  await sql.begin(async (db) => {
    await db.unsafe(`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`);
    await db.unsafe(SCHEMA);
    await db`INSERT INTO rooms (name, created_at) VALUES (${GENERAL_ROOM}, ${now})
      ON CONFLICT DO NOTHING`;
  });
}

const withQuote = (db: Db) => db.unsafe(MESSAGE_WITH_QUOTE);

/** The seqs of live messages `user` may see strictly between low and high (see SqliteStore). */
async function visibleSeqs(
  db: Db,
  user: string,
  low: number,
  high: number,
  count: number,
  desc: boolean,
): Promise<number[]> {
  if (count <= 0 || high - low <= 1) return [];
  const order = db.unsafe(desc ? "DESC" : "ASC");
  // one bounded index range per room they are in and one for their direct messages, merged:
  // never a scan of the rooms they are not in
  const rows = await db`
    SELECT seq FROM (
      SELECT x.seq FROM room_members r CROSS JOIN LATERAL (
        SELECT m.seq FROM messages m
        WHERE m.room = r.room AND m.purged IS NULL AND m.seq > ${low} AND m.seq < ${high}
        ORDER BY m.seq ${order} LIMIT ${count}) x
      WHERE r.user_id = ${user}
      UNION ALL
      (SELECT a.seq FROM audience a JOIN messages m ON m.seq = a.seq
       WHERE a.user_id = ${user} AND a.seq > ${low} AND a.seq < ${high} AND m.purged IS NULL
       ORDER BY a.seq ${order} LIMIT ${count})
    ) s ORDER BY seq ${order} LIMIT ${count}`;
  return rows.map((r) => r.seq as number);
}

async function bySeqs(db: Db, seqs: number[]): Promise<StoredMessage[]> {
  if (seqs.length === 0) return [];
  const rows = await db`SELECT ${withQuote(db)} WHERE m.seq = ANY(${db.array(seqs)}::bigint[])
    ORDER BY m.seq`;
  return rows.map((r) => toMessage(r as Row));
}

/** A room's lists of users: who is in it, who operates it, who is invited to it. */
type RoomList = "room_members" | "room_operators" | "room_invites";

/** Whether `list` has `userId` in `room`. */
async function listed(db: Db, list: RoomList, userId: string, room: string): Promise<boolean> {
  const rows = await db`SELECT 1 FROM ${db.unsafe(list)}
    WHERE user_id = ${userId} AND room = ${room}`;
  return rows.length > 0;
}

/** The operation asking whether `list` has a user in a room. */
const isListed = (list: RoomList) => (c: Ctx, userId: string, room: string): Promise<boolean> =>
  listed(on(c), list, userId, room);

/** What a group commit did, for the facade: the results, and the commit's number. */
export interface Committed {
  results: Written[];
  commitNo: number | null;
  /** Some text was purged or deleted: the worker vacuums soon. */
  purged: boolean;
}

/** One commit as commitsAfter returns it. */
export interface CommitRecord {
  commitNo: number;
  messages: StoredMessage[];
  purges: Purge[];
}

const one = <T>(rows: readonly T[]): T | undefined => rows[0];

/**
 * A text as PostgreSQL can hold it: its text type refuses NUL (SQLite keeps it), and one NUL
 * in a message would fail the whole group commit with everyone else's messages in it. Each
 * becomes U+FFFD, the character that stands for what could not be kept.
 */
export function storable(text: string): string {
  return text.includes("\0") ? text.replaceAll("\0", "\uFFFD") : text;
}

/** `storable` for an optional text. */
const storableOr = (text: string | undefined) => text === undefined ? null : storable(text);

/**
 * One write of a group commit as one statement (see OPS.commit). Seqs and the commit number are
 * read from the counter row, which the statements before it in the transaction have moved on.
 */
function writeStatement(db: Db, write: Write) {
  if (write.kind === "dropRoom") {
    // its oldest messages, live or purged; with the last of them (fewer than limit), the room
    return db`WITH gone AS (
        DELETE FROM messages WHERE seq IN
          (SELECT seq FROM messages WHERE room = ${write.room} ORDER BY seq LIMIT ${write.limit})
        RETURNING 1),
      counted AS (SELECT COUNT(*) AS removed FROM gone),
      room AS (DELETE FROM rooms WHERE name = ${write.room} AND dropped = 1
        AND (SELECT removed FROM counted) < ${write.limit})
      SELECT removed FROM counted`;
  }
  if (write.kind === "purge") {
    // the audience comes back with it, to be told: no read before the write
    return db`UPDATE messages SET text = '', purged = ${write.reason},
        purged_after = (SELECT seq FROM chat_counters),
        purged_commit = (SELECT commit_no FROM chat_counters)
      WHERE id = ${write.id} AND purged IS NULL
      RETURNING id, sender, recipients, room`;
  }
  const { message, clientRef } = write;
  const audience = message.to ? [...new Set([message.from, ...message.to])] : [];
  // claimed: the ref was new (or there is none), so the message is stored under the next seq;
  // otherwise the message stored before under it is named (the claim is not visible to this
  // statement's own read, an earlier one is)
  const claim = clientRef === undefined
    ? db`SELECT 1`
    : db`INSERT INTO sent_refs (user_id, ref, message_id, time)
        VALUES (${message.from}, ${clientRef}, ${message.id}, ${message.time})
        ON CONFLICT DO NOTHING RETURNING 1`;
  const duplicate = clientRef === undefined
    ? db`NULL::text`
    : db`(SELECT message_id FROM sent_refs WHERE user_id = ${message.from} AND ref = ${clientRef})`;
  return db`WITH claimed AS (${claim}),
    bump AS (UPDATE chat_counters SET seq = seq + 1 WHERE EXISTS (SELECT 1 FROM claimed)
      RETURNING seq, commit_no),
    stored AS (INSERT INTO messages (seq, id, sender, recipients, room, text, time, reply_to,
        expires_at, action, commit_no)
      SELECT seq, ${message.id}, ${message.from},
        ${message.to ? JSON.stringify(message.to) : null},
        ${message.to ? null : message.room ?? null}, ${storable(message.text)}, ${message.time},
        ${message.replyTo ?? null}, ${message.expiresAt ?? null}, ${message.action ? 1 : null},
        commit_no
      FROM bump RETURNING seq),
    heard AS (INSERT INTO audience (user_id, seq)
      SELECT u, stored.seq FROM stored, unnest(${db.array(audience)}::text[]) AS u
      ON CONFLICT DO NOTHING)
    SELECT (SELECT seq FROM stored) AS seq, ${duplicate} AS duplicate_of`;
}

/** The operations, by name; each takes the context and the Store method's arguments. */
export const OPS = {
  async canonicalId(c: Ctx, id: string): Promise<string | null> {
    const row = one(await on(c)`SELECT id FROM identities WHERE lower(id) = lower(${id})`);
    return row ? row.id as string : null;
  },

  createIdentity(c: Ctx, identity: Omit<Identity, "lastSeq">, address = ""): Promise<string> {
    return inTx(c, async (db) => {
      const { id, name, tokenHash, createdAt } = identity;
      await db`INSERT INTO identities (id, name, token_hash, created_at)
        VALUES (${id}, ${name}, ${tokenHash}, ${createdAt})`;
      const session = newSessionId();
      await db`INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, address)
        VALUES (${session}, ${id}, ${tokenHash}, ${createdAt}, ${createdAt}, ${address})`;
      await db`INSERT INTO room_members (user_id, room, joined_at)
        VALUES (${id}, ${GENERAL_ROOM}, ${createdAt}) ON CONFLICT DO NOTHING`;
      return session;
    });
  },

  async identity(c: Ctx, id: string): Promise<Identity | null> {
    const row = one(await on(c)`SELECT * FROM identities WHERE lower(id) = lower(${id})`);
    return row ? toIdentity(row) : null;
  },

  async sessionByToken(c: Ctx, name: string, tokenHash: string): Promise<TokenMatch | null> {
    const row = one(
      await on(c)`SELECT s.id AS s_id, s.token_hash AS s_hash, s.rotated_at,
          s.created_at AS s_created, s.last_seen_at, s.address, s.revoked_at, i.*
        FROM sessions s JOIN identities i ON lower(i.id) = lower(s.user_id)
        WHERE (s.token_hash = ${tokenHash} OR s.prev_hash = ${tokenHash}) AND i.name = ${name}
        LIMIT 1`,
    );
    return row ? toTokenMatch(row, tokenHash) : null;
  },

  async rotateSession(
    c: Ctx,
    sessionId: string,
    presentedHash: string,
    tokenHash: string,
    now: number,
    address: string,
  ): Promise<void> {
    await on(c)`UPDATE sessions SET prev_hash = ${presentedHash}, token_hash = ${tokenHash},
      rotated_at = ${now}, last_seen_at = ${now}, address = ${address} WHERE id = ${sessionId}`;
  },

  createSession(
    c: Ctx,
    userId: string,
    tokenHash: string,
    now: number,
    address: string,
    keep: number,
  ): Promise<string> {
    return inTx(c, async (db) => {
      const session = newSessionId();
      await db`INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, address)
        VALUES (${session}, ${userId}, ${tokenHash}, ${now}, ${now}, ${address})`;
      await db`DELETE FROM sessions WHERE lower(user_id) = lower(${userId}) AND id NOT IN
        (SELECT id FROM sessions WHERE lower(user_id) = lower(${userId})
         ORDER BY last_seen_at DESC LIMIT ${keep})`;
      return session;
    });
  },

  async sessions(c: Ctx, userId: string) {
    const rows = await on(c)`SELECT * FROM sessions
      WHERE lower(user_id) = lower(${userId}) AND revoked_at IS NULL
      ORDER BY last_seen_at DESC, created_at DESC`;
    return rows.map((row) => ({
      id: row.id as string,
      userId: row.user_id as string,
      createdAt: row.created_at as number,
      lastSeenAt: row.last_seen_at as number,
      address: row.address as string,
    }));
  },

  async revokeOtherSessions(c: Ctx, userId: string, keep: string, now: number): Promise<number> {
    const result = await on(c)`UPDATE sessions SET revoked_at = ${now}
      WHERE lower(user_id) = lower(${userId}) AND id != ${keep} AND revoked_at IS NULL`;
    return result.count;
  },

  async setLastSeq(c: Ctx, id: string, seq: number): Promise<void> {
    await on(c)`UPDATE identities SET last_seq = ${seq} WHERE lower(id) = lower(${id})`;
  },

  /**
   * The group commit. First the cluster-wide commit lock, then one UPDATE of the counter row
   * numbers the commit; each insert takes the next seq from that row in the statement that
   * stores it: with the lock held nobody else can take one in between, so there are no gaps.
   * Every write is one statement, and all are sent at once (pipelined on the transaction's
   * connection, run in order): a commit costs a few round trips, not a few per message.
   */
  async commit(c: Ctx, writes: readonly Write[]): Promise<Committed> {
    if (writes.length === 0) return { results: [], commitNo: null, purged: false };
    return await inTx(c, async (db) => {
      // one Promise.all over every statement: should one fail, none is left rejected unheard
      const [, counter, outcomes] = await Promise.all([
        db.unsafe(`SELECT pg_advisory_xact_lock(${COMMIT_LOCK})`).execute(),
        db`UPDATE chat_counters SET commit_no = commit_no + 1 RETURNING commit_no`.execute(),
        Promise.all(writes.map((write) => writeStatement(db, write).execute())),
      ]);
      const commitNo = counter[0].commit_no as number;
      const results: Written[] = [];
      let purged = false;
      for (const [i, rows] of outcomes.entries()) {
        const write = writes[i];
        const row = rows[0] as Row | undefined;
        if (write.kind === "dropRoom") {
          const removed = row!.removed as number;
          results.push({ removed, done: removed < write.limit });
          purged ||= removed > 0;
        } else if (write.kind === "purge") {
          results.push(row ? { purged: toPurged(row) } : { purged: null });
          purged ||= row !== undefined;
        } else if (row!.seq === null) {
          // this user's request was stored before: the same message, not a new one
          results.push({ duplicateOf: row!.duplicate_of as string });
        } else {
          results.push({
            ...write.message,
            text: storable(write.message.text),
            seq: row!.seq as number,
          });
        }
      }
      return { results, commitNo, purged };
    });
  },

  async message(c: Ctx, id: string): Promise<StoredMessage | null> {
    const db = on(c);
    const row = one(await db`SELECT ${withQuote(db)} WHERE m.id = ${id} AND m.purged IS NULL`);
    return row ? toMessage(row) : null;
  },

  async seqOf(c: Ctx, id: string): Promise<number | null> {
    const row = one(await on(c)`SELECT seq FROM messages WHERE id = ${id}`);
    return row ? row.seq as number : null;
  },

  async messagesAfter(
    c: Ctx,
    userId: string,
    after: number,
    upto: number,
    limit: number,
    directOnly = false,
  ): Promise<StoredMessage[]> {
    const db = on(c);
    if (directOnly) {
      const rows = await db`SELECT ${withQuote(db)} JOIN audience a ON m.seq = a.seq
        WHERE a.user_id = ${userId} AND a.seq > ${after} AND a.seq <= ${upto}
          AND m.purged IS NULL
        ORDER BY a.seq LIMIT ${limit}`;
      return rows.map((r) => toMessage(r));
    }
    return bySeqs(db, await visibleSeqs(db, userId, after, upto + 1, limit, false));
  },

  async newestStart(
    c: Ctx,
    userId: string,
    after: number,
    upto: number,
    keep: number,
    directOnly = false,
  ): Promise<number | null> {
    const db = on(c);
    if (directOnly) {
      const row = one(
        await db`SELECT a.seq FROM audience a JOIN messages m ON m.seq = a.seq
          WHERE a.user_id = ${userId} AND a.seq > ${after} AND a.seq <= ${upto}
            AND m.purged IS NULL
          ORDER BY a.seq DESC LIMIT 1 OFFSET ${keep}`,
      );
      return row ? row.seq as number : null;
    }
    const seqs = await visibleSeqs(db, userId, after, upto + 1, keep + 1, true);
    return seqs.length > keep ? seqs[keep] : null;
  },

  async purgesAfter(c: Ctx, userId: string, range: PurgeRange, limit: number): Promise<Purge[]> {
    const db = on(c);
    const fromAfter = range.from?.after ?? -1;
    const fromSeq = range.from?.seq ?? -1;
    const rows = await db`SELECT m.id, m.seq, m.purged, m.purged_after FROM messages m
      WHERE m.purged_after >= ${range.since} AND m.purged_after <= ${range.upto}
        AND m.seq <= ${range.atOrBefore}
        AND (m.purged_after > ${fromAfter} OR (m.purged_after = ${fromAfter} AND m.seq > ${fromSeq}))
        AND m.purged IS NOT NULL AND ${audienceIncludes(db, userId)}
      ORDER BY m.purged_after, m.seq LIMIT ${limit}`;
    return rows.map(toPurge);
  },

  async visibleBefore(
    c: Ctx,
    userId: string,
    beforeId: string | undefined,
    limit: number,
    room?: string,
  ): Promise<StoredMessage[]> {
    const db = on(c);
    let before = Number.MAX_SAFE_INTEGER;
    if (beforeId !== undefined) {
      const row = one(await db`SELECT seq FROM messages WHERE id = ${beforeId}`);
      if (!row) return [];
      before = row.seq as number;
    }
    if (room === undefined) {
      return bySeqs(db, await visibleSeqs(db, userId, 0, before, limit, true));
    }
    const rows = await db`SELECT ${withQuote(db)}
      WHERE m.room = ${room} AND m.seq < ${before} AND ${visibleTo(db, userId)}
      ORDER BY m.seq DESC LIMIT ${limit}`;
    return rows.map((r) => toMessage(r)).reverse();
  },

  async visibleMessage(c: Ctx, userId: string, id: string): Promise<StoredMessage | null> {
    const db = on(c);
    const row = one(
      await db`SELECT ${withQuote(db)} WHERE m.id = ${id} AND ${visibleTo(db, userId)}`,
    );
    return row ? toMessage(row) : null;
  },

  async sentRef(c: Ctx, userId: string, ref: string): Promise<string | null> {
    const row = one(
      await on(c)`SELECT message_id FROM sent_refs WHERE user_id = ${userId} AND ref = ${ref}`,
    );
    return row ? row.message_id as string : null;
  },

  async forgetSentRefs(c: Ctx, before: number): Promise<void> {
    await on(c)`DELETE FROM sent_refs WHERE time < ${before}`;
  },

  async tombstone(c: Ctx, id: string) {
    const row = one(
      await on(c)`SELECT id, sender, recipients, room, purged FROM messages WHERE id = ${id}`,
    );
    return row ? { ...toPurged(row), purged: row.purged !== null } : null;
  },

  async pendingExpiries(c: Ctx) {
    const rows = await on(c)`SELECT id, expires_at FROM messages
      WHERE expires_at IS NOT NULL AND purged IS NULL`;
    return rows.map((row) => ({ id: row.id as string, expiresAt: row.expires_at as number }));
  },

  /**
   * The live messages `userId` may see (of `room`) with seq in [from, before), newest first, as
   * rows with their text: a page of a search (the matching runs elsewhere, never in SQL).
   */
  async searchPage(
    c: Ctx,
    userId: string,
    room: string | null,
    before: number,
    from: number,
  ): Promise<Row[]> {
    const db = on(c);
    const inRoom = room === null ? db`` : db`AND m.room = ${room}`;
    return [
      ...await db`SELECT ${withQuote(db)}
        WHERE m.seq < ${before} AND m.seq >= ${from} ${inRoom} AND ${visibleTo(db, userId)}
        ORDER BY m.seq DESC`,
    ];
  },

  async latestSeq(c: Ctx): Promise<number> {
    const [row] = await on(c)`SELECT seq FROM chat_counters`;
    return row.seq as number;
  },

  /** The number of the newest commit of any node (0 before any). */
  async latestCommitNo(c: Ctx): Promise<number> {
    const [row] = await on(c)`SELECT commit_no FROM chat_counters`;
    return row.commit_no as number;
  },

  /**
   * Every commit after `commitNo`, in order, at most `limit`: the messages each stored (with
   * quotes, as messagesAfter reads them) and the purges it made. A message purged since comes
   * back as a purge leaves it, text "" (its purge is in a later commit); one whose room was
   * dropped since is not there at all. A commit that stored and purged nothing has empty lists.
   */
  async commitsAfter(c: Ctx, commitNo: number, limit: number): Promise<CommitRecord[]> {
    const db = on(c);
    const [counter] = await db`SELECT commit_no FROM chat_counters`;
    const last = Math.min(counter.commit_no as number, commitNo + limit);
    if (last <= commitNo) return [];
    const records = new Map<number, CommitRecord>();
    for (let n = commitNo + 1; n <= last; n++) {
      records.set(n, { commitNo: n, messages: [], purges: [] });
    }
    const messages = await db`SELECT ${withQuote(db)}
      WHERE m.commit_no > ${commitNo} AND m.commit_no <= ${last} ORDER BY m.seq`;
    for (const row of messages) {
      records.get(row.commit_no as number)!.messages.push(toMessage(row));
    }
    const purges = await db`SELECT id, seq, purged, purged_after, purged_commit FROM messages
      WHERE purged_commit > ${commitNo} AND purged_commit <= ${last}
      ORDER BY purged_after, seq`;
    for (const row of purges) records.get(row.purged_commit as number)!.purges.push(toPurge(row));
    return [...records.values()];
  },

  async rooms(c: Ctx): Promise<StoredRoom[]> {
    // one pass over the memberships, not one index lookup per room: 10,000 rooms of 100,000
    // members in ~18 ms, not ~60 (a node reads them at start and after the bus was away)
    const rows = await on(c)`SELECT r.*, COALESCE(m.members, 0) AS members
      FROM rooms r LEFT JOIN (SELECT room, COUNT(*) AS members FROM room_members GROUP BY room) m
        ON m.room = r.name
      WHERE r.dropped = 0`;
    return rows.map(toRoom);
  },

  async roomsOf(c: Ctx, userId: string): Promise<string[]> {
    const rows = await on(c)`SELECT room FROM room_members WHERE user_id = ${userId}
      ORDER BY joined_at, room`;
    return rows.map((row) => row.room as string);
  },

  // whether a user is among a room's members, operators, invited: one lookup of its list each
  isMember: isListed("room_members"),
  isOperator: isListed("room_operators"),
  isInvited: isListed("room_invites"),

  async joinRoom(
    c: Ctx,
    userId: string,
    room: string,
    now: number,
    create?: { private: boolean },
  ): Promise<void> {
    await inTx(c, async (db) => {
      if (create) {
        await db`INSERT INTO rooms (name, private, creator, created_at)
          VALUES (${room}, ${create.private ? 1 : 0}, ${userId}, ${now})`;
        await db`INSERT INTO room_operators (room, user_id) VALUES (${room}, ${userId})
          ON CONFLICT DO NOTHING`;
      }
      await db`INSERT INTO room_members (user_id, room, joined_at) VALUES (${userId}, ${room}, ${now})
        ON CONFLICT DO NOTHING`;
      await db`DELETE FROM room_invites WHERE user_id = ${userId} AND room = ${room}`;
    });
  },

  async partRoom(c: Ctx, userId: string, room: string): Promise<void> {
    await inTx(c, async (db) => {
      await db`DELETE FROM room_members WHERE user_id = ${userId} AND room = ${room}`;
      await db`DELETE FROM room_invites WHERE user_id = ${userId} AND room = ${room}`;
    });
  },

  async setTopic(c: Ctx, room: string, topic: string, by: string, now: number): Promise<void> {
    await on(c)`UPDATE rooms SET topic = ${storable(topic)}, topic_by = ${by}, topic_at = ${now}
      WHERE name = ${room}`;
  },

  async setPrivate(c: Ctx, room: string, isPrivate: boolean): Promise<void> {
    await on(c)`UPDATE rooms SET private = ${isPrivate ? 1 : 0} WHERE name = ${room}`;
  },

  async invite(
    c: Ctx,
    room: string,
    userId: string,
    by: string,
    now: number,
    keep: number,
  ): Promise<void> {
    await inTx(c, async (db) => {
      await db`INSERT INTO room_invites (room, user_id, invited_by, time)
        VALUES (${room}, ${userId}, ${by}, ${now})
        ON CONFLICT (room, user_id) DO UPDATE SET invited_by = EXCLUDED.invited_by,
          time = EXCLUDED.time`;
      await db`DELETE FROM room_invites WHERE room = ${room} AND user_id NOT IN
        (SELECT user_id FROM room_invites WHERE room = ${room} ORDER BY time DESC LIMIT ${keep})`;
    });
  },

  dropRoom(c: Ctx, room: string): Promise<boolean> {
    return inTx(c, async (db) => {
      const marked = await db`UPDATE rooms SET dropped = 1 WHERE name = ${room} AND dropped = 0`;
      if (marked.count === 0) return false;
      await db`DELETE FROM room_members WHERE room = ${room}`;
      await db`DELETE FROM room_operators WHERE room = ${room}`;
      await db`DELETE FROM room_invites WHERE room = ${room}`;
      await db`DELETE FROM restrictions WHERE scope = ${room}`;
      return true;
    });
  },

  async droppedRooms(c: Ctx): Promise<string[]> {
    const rows = await on(c)`SELECT name FROM rooms WHERE dropped = 1 ORDER BY name`;
    return rows.map((row) => row.name as string);
  },

  async isServerOperator(c: Ctx, userId: string): Promise<boolean> {
    return (await on(c)`SELECT 1 FROM server_operators WHERE lower(user_id) = lower(${userId})`)
      .length > 0;
  },

  async serverOperators(c: Ctx): Promise<string[]> {
    const rows = await on(c)`SELECT user_id FROM server_operators ORDER BY granted_at, user_id`;
    return rows.map((row) => row.user_id as string);
  },

  async addServerOperator(c: Ctx, userId: string, now: number): Promise<boolean> {
    return (await on(c)`INSERT INTO server_operators (user_id, granted_at)
      VALUES (${userId}, ${now}) ON CONFLICT DO NOTHING`).count > 0;
  },

  async removeServerOperator(c: Ctx, userId: string): Promise<boolean> {
    return (await on(c)`DELETE FROM server_operators WHERE lower(user_id) = lower(${userId})`)
      .count > 0;
  },

  async roomCreator(c: Ctx, room: string): Promise<string | null> {
    const row = one(await on(c)`SELECT creator FROM rooms WHERE name = ${room}`);
    return (row?.creator as string | null | undefined) ?? null;
  },

  async roomOperators(c: Ctx, room: string): Promise<string[]> {
    const rows = await on(c)`SELECT user_id FROM room_operators WHERE room = ${room}
      ORDER BY user_id`;
    return rows.map((row) => row.user_id as string);
  },

  addRoomOperator(c: Ctx, room: string, userId: string, keep: number): Promise<boolean> {
    return inTx(c, async (db) => {
      if (await listed(db, "room_operators", userId, room)) return true;
      const [{ n }] = await db`SELECT COUNT(*) AS n FROM room_operators WHERE room = ${room}`;
      if ((n as number) >= keep) return false;
      await db`INSERT INTO room_operators (room, user_id) VALUES (${room}, ${userId})
        ON CONFLICT DO NOTHING`;
      return true;
    });
  },

  async removeRoomOperator(c: Ctx, room: string, userId: string): Promise<boolean> {
    return (await on(c)`DELETE FROM room_operators WHERE room = ${room} AND user_id = ${userId}`)
      .count > 0;
  },

  restrict(c: Ctx, restriction: StoredRestriction, keep: number): Promise<boolean> {
    return inTx(c, async (db) => {
      const { kind, scope, target, time } = restriction;
      const replacing = (await db`SELECT 1 FROM restrictions WHERE kind = ${kind}
        AND scope = ${scope} AND target = ${target} AND (until IS NULL OR until > ${time})`)
        .length > 0;
      const [{ n }] = await db`SELECT COUNT(*) AS n FROM restrictions WHERE scope = ${scope}`;
      if (!replacing && (n as number) >= keep) return false;
      await db`INSERT INTO restrictions (kind, scope, target, on_address, by, reason, time, until)
        VALUES (${kind}, ${scope}, ${target}, ${restriction.onAddress ? 1 : 0}, ${restriction.by},
          ${storableOr(restriction.reason)}, ${time}, ${restriction.until ?? null})
        ON CONFLICT (kind, scope, target) DO UPDATE SET on_address = EXCLUDED.on_address,
          by = EXCLUDED.by, reason = EXCLUDED.reason, time = EXCLUDED.time,
          until = EXCLUDED.until`;
      return true;
    });
  },

  async lift(
    c: Ctx,
    kind: RestrictionKind,
    scope: string,
    target: string,
    now: number,
  ): Promise<boolean> {
    const row = one(
      await on(c)`DELETE FROM restrictions
        WHERE kind = ${kind} AND scope = ${scope} AND target = ${target} RETURNING until`,
    );
    return row !== undefined && (row.until === null || (row.until as number) > now);
  },

  async restriction(
    c: Ctx,
    kind: RestrictionKind,
    scope: string,
    target: string,
    now: number,
  ): Promise<StoredRestriction | null> {
    const row = one(
      await on(c)`SELECT * FROM restrictions WHERE kind = ${kind} AND scope = ${scope}
        AND target = ${target} AND (until IS NULL OR until > ${now})`,
    );
    return row ? toRestriction(row) : null;
  },

  async restrictionsOf(
    c: Ctx,
    target: string,
    kind: RestrictionKind,
    now: number,
  ): Promise<StoredRestriction[]> {
    const rows = await on(c)`SELECT * FROM restrictions
      WHERE target = ${target} AND kind = ${kind} AND (until IS NULL OR until > ${now})`;
    return rows.map((r) => toRestriction(r));
  },

  async restrictions(c: Ctx, scope: string, now: number, offset: number, limit: number) {
    const db = on(c);
    const [{ n }] = await db`SELECT COUNT(*) AS n FROM restrictions WHERE scope = ${scope}
      AND (until IS NULL OR until > ${now})`;
    const rows = await db`SELECT * FROM restrictions WHERE scope = ${scope}
        AND (until IS NULL OR until > ${now})
      ORDER BY time DESC, kind, target LIMIT ${limit} OFFSET ${offset}`;
    return { total: n as number, restrictions: rows.map((r) => toRestriction(r)) };
  },

  async pruneRestrictions(c: Ctx, now: number, limit: number): Promise<number> {
    return (await on(c)`DELETE FROM restrictions WHERE (kind, scope, target) IN
      (SELECT kind, scope, target FROM restrictions
       WHERE until IS NOT NULL AND until <= ${now} LIMIT ${limit})`).count;
  },

  logModeration(c: Ctx, entry: NewModlogEntry, keep: number): Promise<number> {
    return inTx(c, async (db) => {
      const [row] = await db`INSERT INTO modlog
          (time, action, by, room, user_id, address, reason, until, message)
        VALUES (${entry.time}, ${entry.action}, ${entry.by}, ${entry.room ?? null},
          ${entry.user ?? null}, ${entry.address ?? null}, ${storableOr(entry.reason)},
          ${entry.until ?? null}, ${storableOr(entry.message)})
        RETURNING seq`;
      const id = row.seq as number;
      await db`DELETE FROM modlog WHERE seq <= ${id - keep}`;
      return id;
    });
  },

  async modlog(
    c: Ctx,
    room: string | undefined,
    before: number | undefined,
    limit: number,
  ): Promise<ModlogRow[]> {
    const db = on(c);
    const upto = before ?? Number.MAX_SAFE_INTEGER;
    const rows = room === undefined
      ? await db`SELECT * FROM modlog WHERE seq < ${upto} ORDER BY seq DESC LIMIT ${limit}`
      : await db`SELECT * FROM modlog WHERE room = ${room} AND seq < ${upto}
          ORDER BY seq DESC LIMIT ${limit}`;
    return rows.map(toModlog);
  },
};

export type OpName = keyof typeof OPS;
