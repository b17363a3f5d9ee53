/**
 * What both stores do the same way on top of their own methods, written once so that SqliteStore
 * and PostgresStore cannot drift apart in it.
 */
import { type Row, toMessage } from "./rows.ts";
import type {
  Identity,
  Inserted,
  NewMessage,
  Purged,
  StoredMessage,
  TokenMatch,
  Write,
  Written,
} from "./store.ts";

/**
 * The Store methods every store builds on others: storing one message or a batch and purging a
 * list (on its group commit), a token's identity (on `sessionByToken`), and search (on the rows
 * it reads). A store extends it and implements the rest.
 */
export abstract class StoreBase {
  abstract commit(writes: readonly Write[]): Written[];
  abstract sessionByToken(name: string, tokenHash: string): TokenMatch | null;
  /**
   * The live messages `userId` may see (of `room` only, when given), newest first, as rows read
   * with their quotes (MESSAGE_WITH_QUOTE): what `search` matches the text of.
   */
  protected abstract searchRows(userId: string, room: string | undefined): Iterable<Row>;

  insertMessage(message: NewMessage, clientRef?: string): StoredMessage {
    const [result] = this.insertMessages([{ message, clientRef }]);
    if ("duplicateOf" in result) throw new Error(`request ${clientRef} was already stored`);
    return result;
  }

  insertMessages(batch: readonly { message: NewMessage; clientRef?: string }[]): Inserted[] {
    return this.commit(batch.map((b) => ({ kind: "insert", ...b }))) as Inserted[];
  }

  purge(ids: readonly string[], reason: "deleted" | "expired"): Purged[] {
    return this.commit(ids.map((id) => ({ kind: "purge", id, reason })))
      .flatMap((w) => "purged" in w && w.purged ? [w.purged] : []);
  }

  identityByToken(name: string, tokenHash: string): Identity | null {
    const match = this.sessionByToken(name, tokenHash);
    return match && !match.previous ? match.identity : null;
  }

  search(
    userId: string,
    matches: (text: string) => boolean,
    limit: number,
    room?: string,
  ): { total: number; messages: StoredMessage[] } {
    let total = 0;
    const messages: StoredMessage[] = [];
    for (const row of this.searchRows(userId, room)) {
      if (!matches(row.text as string)) continue;
      total++;
      // only the messages given back are read into objects (a search may match thousands)
      if (messages.length < limit) messages.push(toMessage(row));
    }
    return { total, messages };
  }
}

/** A short random handle for a session (never the token). */
export function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
