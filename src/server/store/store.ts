/**
 * The history and identity store, behind one interface so the hub never knows which backend it
 * talks to. Calls are synchronous: the embedded backend (node:sqlite) is, and a synchronous
 * "persist" keeps the rule "persist, then fan out, then ack" a straight line of code.
 */

/** A message as stored. `to` is absent for a public message. */
export interface StoredMessage {
  /** Store-assigned order: strictly increasing in the order messages were accepted. */
  seq: number;
  id: string;
  from: string;
  to?: string[];
  text: string;
  time: number;
  replyTo?: string;
  /** For a reply, read with it: the original's author and first line, or that it is gone. */
  quote?: Quote;
  expiresAt?: number;
}

/** What storing one message of a batch came to: stored now, or stored before under that ref. */
export type Inserted = StoredMessage | { duplicateOf: string };

export interface Replay {
  messages: StoredMessage[];
  purged: { id: string; reason: "deleted" | "expired"; after: number }[];
  /** More messages were missed than `limit`: `messages` are the newest of them. */
  truncated: boolean;
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

export interface Store {
  /** The id as issued, when `id` matches an issued id ignoring case; null when never issued. */
  canonicalId(id: string): string | null;
  createIdentity(identity: Omit<Identity, "lastSeq">): void;
  identity(id: string): Identity | null;
  /** The identity of `name` whose token hashes to `tokenHash`, if any. */
  identityByToken(name: string, tokenHash: string): Identity | null;
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
  /** The id of the message that `userId`'s request `ref` stored, if it did. */
  sentRef(userId: string, ref: string): string | null;
  /** Forgets request refs older than `before` (ms since epoch). */
  forgetSentRefs(before: number): void;
  /** Who wrote a message and whether it is purged, even after its text is gone; null if never. */
  tombstone(id: string): { id: string; from: string; purged: boolean } | null;
  /**
   * What `userId` missed after the message `afterId`: live messages after it, oldest first, and
   * purges of earlier messages they may see that happened since (`after` = the newest seq when
   * purged). Null when `afterId` is unknown. At most `limit` of each: the newest.
   */
  replaySince(userId: string, afterId: string, limit: number): Replay | null;
  /** One message by id, or null. */
  message(id: string): StoredMessage | null;
  /** The newest `limit` messages `userId` may see, oldest first. */
  recentVisible(userId: string, limit: number): StoredMessage[];
  /** Direct messages to or from `userId` after sequence `afterSeq`, oldest first; the newest `limit`. */
  directSince(userId: string, afterSeq: number, limit: number): StoredMessage[];
  /** Messages `userId` may see before the message `beforeId` (or the newest), newest last, at most `limit`. */
  visibleBefore(userId: string, beforeId: string | undefined, limit: number): StoredMessage[];
  /**
   * Purges the text of these messages (a tombstone with id, author and time stays) so that it
   * cannot be recovered from the database files either. Returns the messages that were live,
   * as they were (already-purged or unknown ids are skipped).
   */
  purge(ids: readonly string[], reason: "deleted" | "expired"): StoredMessage[];
  /** Every live temporary message's id and deadline, for the expiry schedule at start-up. */
  pendingExpiries(): { id: string; expiresAt: number }[];
  /**
   * Live messages `userId` may see whose text `matches`, newest first: the first `limit` of them
   * and how many there are in all.
   */
  search(
    userId: string,
    matches: (text: string) => boolean,
    limit: number,
  ): { total: number; messages: StoredMessage[] };
  /** The highest sequence number given out so far (0 when empty). */
  latestSeq(): number;
  close(): void;
}

/** Longest quote of an original, in characters: its first line, cut. */
export const QUOTE_LENGTH = 120;

/** The quote a reply shows of its original: the author and the first line. */
export function quoteOf(original: { from: string; text: string }): Quote {
  const line = original.text.split("\n")[0];
  const text = line.length > QUOTE_LENGTH ? `${line.slice(0, QUOTE_LENGTH - 1)}…` : line;
  return { from: original.from, text };
}
