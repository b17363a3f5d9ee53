/**
 * One search over a SQLite database file, on a connection of its own: what the search worker
 * runs. The visibility rule and the quote are the store's own SQL (imported, not copied).
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { MESSAGE_WITH_QUOTE, toMessage, VISIBLE_TO_USER } from "../store/sqlite.ts";
import type { StoredMessage } from "../store/store.ts";
import { compilePattern } from "./pattern.ts";
import { type SearchOutcome, type SearchRequest, timeoutOutcome } from "./searcher.ts";

/**
 * Sequence numbers read per query, newest first. Each query is its own short read transaction:
 * the main connection's `wal_checkpoint(TRUNCATE)` after a purge waits for open readers, so no
 * read may stay open for a whole search. 200 rows of 4,000 characters read in a few ms.
 */
export const SCAN_PAGE_ROWS = 200;

/** Searches one database file a page at a time: the search worker holds one. */
export class DatabaseScanner {
  readonly #db: DatabaseSync;
  readonly #newest: StatementSync;
  readonly #page: StatementSync;

  /** Opens `path` read-only; the server's own connection has already set WAL mode. */
  constructor(path: string) {
    this.#db = new DatabaseSync(path, { readOnly: true });
    this.#db.exec("PRAGMA busy_timeout = 5000");
    this.#newest = this.#db.prepare("SELECT COALESCE(MAX(seq), 0) AS seq FROM messages");
    // a range of seq, not "the next N visible": a page costs the same whoever searches
    this.#page = this.#db.prepare(
      `SELECT ${MESSAGE_WITH_QUOTE}
       WHERE m.seq < :before AND m.seq >= :from AND (:room IS NULL OR m.room = :room)
         AND ${VISIBLE_TO_USER}
       ORDER BY m.seq DESC`,
    );
  }

  /**
   * The live messages `request.userId` may see that match, newest first: the first `limit` and
   * the total. Stops with `search_timeout` once `timeBudgetMs` has passed (checked after every
   * row, so it overshoots by one message's matching at most).
   */
  search(request: SearchRequest, timeBudgetMs: number): SearchOutcome {
    const deadline = performance.now() + timeBudgetMs;
    const compiled = compilePattern(request.pattern);
    if (!compiled.ok) return compiled;
    const { matches } = compiled.pattern;
    let total = 0;
    const messages: StoredMessage[] = [];
    let before = (this.#newest.get() as { seq: number }).seq + 1;
    while (before > 1) {
      const from = Math.max(1, before - SCAN_PAGE_ROWS);
      const rows = this.#page.all({
        user: request.userId,
        room: request.room ?? null,
        before,
        from,
      });
      for (const row of rows) {
        if (matches(row.text as string)) {
          total++;
          if (messages.length < request.limit) messages.push(toMessage(row));
        }
        if (performance.now() > deadline) return timeoutOutcome(timeBudgetMs);
      }
      if (performance.now() > deadline) return timeoutOutcome(timeBudgetMs);
      before = from;
    }
    return { ok: true, total, messages };
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}
