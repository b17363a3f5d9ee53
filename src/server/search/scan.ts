/**
 * One search over the history a page of seqs at a time, newest first: the walk over pages, the
 * matching (re2js, linear time) and the time budget, in {@link PageWalk}, whatever reads the
 * pages. DatabaseScanner reads them from a SQLite file on a connection of its own, with the
 * store's own visibility rule and quote (imported, not copied); PostgresScanner (pg_scan.ts)
 * from PostgreSQL. No pattern ever runs in the database.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { MESSAGE_WITH_QUOTE, toMessage, VISIBLE_TO_USER } from "../store/sqlite.ts";
import type { StoredMessage } from "../store/store.ts";
import { compilePattern } from "./pattern.ts";
import { type SearchOutcome, type SearchRequest, timeoutOutcome } from "./searcher.ts";

/**
 * Sequence numbers read per query, newest first. Each query is its own short read transaction:
 * the main connection's `wal_checkpoint(TRUNCATE)` after a purge waits for open readers (and
 * PostgreSQL's VACUUM after one cannot reclaim what an open snapshot may see), so no read may
 * stay open for a whole search. 200 rows of 4,000 characters read in a few ms.
 */
export const SCAN_PAGE_ROWS = 200;

/** A page to read: the live messages the searcher may see with seq in [from, before). */
export interface PageBounds {
  before: number;
  from: number;
}

/**
 * The state of one search: which page to read next, and what the rows read so far came to.
 * Drive it with `next()` and `take(rows)` until `next()` returns null, then `outcome()`.
 */
export class PageWalk {
  readonly #request: SearchRequest;
  readonly #timeBudgetMs: number;
  readonly #deadline: number;
  readonly #matches: (text: string) => boolean;
  #before: number;
  #total = 0;
  readonly #messages: StoredMessage[] = [];
  #stopped: SearchOutcome | null = null;

  /** A walk from the newest seq down; a pattern that cannot run is the outcome at once. */
  static start(
    request: SearchRequest,
    timeBudgetMs: number,
  ): { ok: true; walk: (newest: number) => PageWalk } | Extract<SearchOutcome, { ok: false }> {
    const deadline = performance.now() + timeBudgetMs;
    const compiled = compilePattern(request.pattern);
    if (!compiled.ok) return compiled;
    const { matches } = compiled.pattern;
    return {
      ok: true,
      walk: (newest) => new PageWalk(request, timeBudgetMs, deadline, matches, newest),
    };
  }

  private constructor(
    request: SearchRequest,
    timeBudgetMs: number,
    deadline: number,
    matches: (text: string) => boolean,
    newest: number,
  ) {
    this.#request = request;
    this.#timeBudgetMs = timeBudgetMs;
    this.#deadline = deadline;
    this.#matches = matches;
    this.#before = newest + 1;
  }

  /** The next page to read, or null when the walk is over (done, or out of time). */
  next(): PageBounds | null {
    if (this.#stopped || this.#before <= 1) return null;
    // a range of seq, not "the next N visible": a page costs the same whoever searches
    const from = Math.max(1, this.#before - SCAN_PAGE_ROWS);
    const page = { before: this.#before, from };
    this.#before = from;
    return page;
  }

  /**
   * The rows of the page asked for last, newest first (read with the store's message columns).
   * Checks the time after every row, so it overshoots by one message's matching at most.
   */
  take(rows: Iterable<Record<string, unknown>>): void {
    for (const row of rows) {
      if (this.#matches(row.text as string)) {
        this.#total++;
        if (this.#messages.length < this.#request.limit) this.#messages.push(toMessage(row));
      }
      if (performance.now() > this.#deadline) break;
    }
    if (performance.now() > this.#deadline) this.#stopped = timeoutOutcome(this.#timeBudgetMs);
  }

  /** The matches, newest first: the first `limit` and the total; or that time ran out. */
  outcome(): SearchOutcome {
    return this.#stopped ?? { ok: true, total: this.#total, messages: this.#messages };
  }
}

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
    this.#page = this.#db.prepare(
      `SELECT ${MESSAGE_WITH_QUOTE}
       WHERE m.seq < :before AND m.seq >= :from AND (:room IS NULL OR m.room = :room)
         AND ${VISIBLE_TO_USER}
       ORDER BY m.seq DESC`,
    );
  }

  /**
   * The live messages `request.userId` may see that match, newest first: the first `limit` and
   * the total. Stops with `search_timeout` once `timeBudgetMs` has passed.
   */
  search(request: SearchRequest, timeBudgetMs: number): SearchOutcome {
    const started = PageWalk.start(request, timeBudgetMs);
    if (!started.ok) return started;
    const walk = started.walk((this.#newest.get() as { seq: number }).seq);
    for (let page = walk.next(); page; page = walk.next()) {
      walk.take(this.#page.all({ user: request.userId, room: request.room ?? null, ...page }));
    }
    return walk.outcome();
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}
