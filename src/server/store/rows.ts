/**
 * Rows as both stores read them (the same column names and types in SQLite and PostgreSQL) into
 * the store's types, so the two backends cannot drift apart in how they present a row.
 */
import {
  type Identity,
  type ModlogRow,
  type Purged,
  quoteOf,
  type RestrictionKind,
  type StoredMessage,
  type StoredRestriction,
  type StoredRoom,
} from "./store.ts";

export type Row = Record<string, unknown>;

export function toRestriction(row: Row): StoredRestriction {
  const restriction: StoredRestriction = {
    kind: row.kind as RestrictionKind,
    scope: row.scope as string,
    target: row.target as string,
    onAddress: row.on_address !== 0,
    by: row.by as string,
    time: row.time as number,
  };
  if (row.reason !== null) restriction.reason = row.reason as string;
  if (row.until !== null) restriction.until = row.until as number;
  return restriction;
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
  if (row.topic_by !== null) room.topicBy = row.topic_by as string;
  if (row.topic_at !== null) room.topicAt = row.topic_at as number;
  return room;
}

/** A moderation log row, numbered by its seq. */
export function toModlog(row: Row): ModlogRow {
  const entry: ModlogRow = {
    id: row.seq as number,
    time: row.time as number,
    action: row.action as ModlogRow["action"],
    by: row.by as string,
  };
  if (row.room !== null) entry.room = row.room as string;
  if (row.user_id !== null) entry.user = row.user_id as string;
  if (row.address !== null) entry.address = row.address as string;
  if (row.reason !== null) entry.reason = row.reason as string;
  if (row.until !== null) entry.until = row.until as number;
  if (row.message !== null) entry.message = row.message as string;
  return entry;
}
