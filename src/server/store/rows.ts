/**
 * Rows as both stores read them (the same column names and types in SQLite and PostgreSQL) into
 * the store's types, so the two backends cannot drift apart in how they present a row.
 */
import {
  type Identity,
  type ModlogRow,
  type Purge,
  type Purged,
  quoteOf,
  type RestrictionKind,
  type StoredMessage,
  type StoredRestriction,
  type StoredRoom,
  type TokenMatch,
} from "./store.ts";

export type Row = Record<string, unknown>;

/**
 * SQL: columns and FROM for reading messages `m`: every message read carries what a reply needs
 * to quote, the original's author and text, or that it was purged (its text is gone, so nothing
 * can leak through a quote). Read rows with {@link toMessage}.
 */
export const MESSAGE_WITH_QUOTE = `m.*, o.sender AS q_from, o.text AS q_text, o.purged AS q_purged
  FROM messages m LEFT JOIN messages o ON o.id = m.reply_to`;

/**
 * Sets the optional properties of `into` whose columns (`columns`, by property) are not NULL in
 * `row`; for NULL the property stays absent, as the store's types have it.
 */
function withPresent<T extends object>(
  into: T,
  row: Row,
  columns: { [K in keyof T]?: string },
): T {
  for (const [key, column] of Object.entries(columns) as [string, string][]) {
    if (row[column] !== null) (into as Row)[key] = row[column];
  }
  return into;
}

export function toRestriction(row: Row): StoredRestriction {
  const restriction: StoredRestriction = {
    kind: row.kind as RestrictionKind,
    scope: row.scope as string,
    target: row.target as string,
    onAddress: row.on_address !== 0,
    by: row.by as string,
    time: row.time as number,
  };
  return withPresent(restriction, row, { reason: "reason", until: "until" });
}

/** Who a message was from and to: whom to tell when it goes. */
export function toPurged(row: Row): Purged {
  const purged: Purged = { id: row.id as string, from: row.sender as string };
  if (row.recipients !== null) purged.to = JSON.parse(row.recipients as string);
  else if (row.room !== null) purged.room = row.room as string;
  return purged;
}

export function toIdentity(row: Row): Identity {
  return {
    id: row.id as string,
    name: row.name as string,
    tokenHash: row.token_hash as string,
    createdAt: row.created_at as number,
    lastSeq: row.last_seq as number,
  };
}

/** A row read with the messages and their quotes (MESSAGE_WITH_QUOTE) as a message, quote included. */
export function toMessage(row: Row): StoredMessage {
  const message: StoredMessage = {
    seq: row.seq as number,
    id: row.id as string,
    from: row.sender as string,
    text: row.text as string,
    time: row.time as number,
  };
  if (row.recipients !== null) message.to = JSON.parse(row.recipients as string);
  else if (row.room !== null) message.room = row.room as string;
  if (row.reply_to !== null) {
    message.replyTo = row.reply_to as string;
    message.quote = row.q_from === null || row.q_purged !== null
      ? { deleted: true }
      : quoteOf({ from: row.q_from as string, text: row.q_text as string });
  }
  if (row.expires_at !== null) message.expiresAt = row.expires_at as number;
  if (row.action === 1) message.action = true;
  return message;
}

/** A room row (with its member count) as stored. */
export function toRoom(row: Row): StoredRoom {
  const room: StoredRoom = {
    name: row.name as string,
    topic: row.topic as string,
    private: row.private !== 0,
    createdAt: row.created_at as number,
    members: row.members as number,
  };
  return withPresent(room, row, { topicBy: "topic_by", topicAt: "topic_at" });
}

/** A moderation log row, numbered by its seq. */
export function toModlog(row: Row): ModlogRow {
  const entry: ModlogRow = {
    id: row.seq as number,
    time: row.time as number,
    action: row.action as ModlogRow["action"],
    by: row.by as string,
  };
  return withPresent(entry, row, {
    room: "room",
    user: "user_id",
    address: "address",
    reason: "reason",
    until: "until",
    message: "message",
  });
}

/**
 * A session read with its identity (the session's columns under `s_` names where the identity
 * has the same) as what `tokenHash`, the token presented, matched.
 */
export function toTokenMatch(row: Row, tokenHash: string): TokenMatch {
  return {
    identity: toIdentity(row),
    session: {
      id: row.s_id as string,
      userId: row.id as string,
      createdAt: row.s_created as number,
      lastSeenAt: row.last_seen_at as number,
      address: row.address as string,
    },
    previous: row.s_hash !== tokenHash,
    rotatedAt: row.rotated_at as number | null,
    revoked: row.revoked_at !== null,
  };
}

/** A purged message's row as a resume replays the purge. */
export function toPurge(row: Row): Purge {
  return {
    id: row.id as string,
    seq: row.seq as number,
    reason: row.purged as "deleted" | "expired",
    after: row.purged_after as number,
  };
}
