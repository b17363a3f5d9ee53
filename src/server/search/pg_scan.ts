/**
 * One search over a PostgreSQL store, on a connection of the search worker's own: the pages,
 * matching and budget of scan.ts's PageWalk, each page read by the store's own query (the same
 * visibility rule and quote as PostgresStore; postgres_ops.ts). The pattern runs here, in re2js.
 */
import { connect, type Ctx, OPS } from "../store/postgres_ops.ts";
import type { SearchOutcome, SearchRequest } from "./searcher.ts";
import { PageWalk } from "./scan.ts";

export class PostgresScanner {
  readonly #ctx: Ctx;

  /** One connection: the worker runs one search at a time. */
  constructor(url: string) {
    this.#ctx = { sql: connect(url, { max: 1 }), tx: null };
  }

  /** Connects now, so that a database that cannot be reached fails the opening, not a search. */
  async ready(): Promise<void> {
    await this.#ctx.sql`SELECT 1`;
  }

  /** As DatabaseScanner.search: each page is its own short query (no snapshot held across). */
  async search(request: SearchRequest, timeBudgetMs: number): Promise<SearchOutcome> {
    const started = PageWalk.start(request, timeBudgetMs);
    if (!started.ok) return started;
    const walk = started.walk(await OPS.latestSeq(this.#ctx));
    for (let page = walk.next(); page; page = walk.next()) {
      const { before, from } = page;
      walk.take(
        await OPS.searchPage(this.#ctx, request.userId, request.room ?? null, before, from),
      );
    }
    return walk.outcome();
  }

  async close(): Promise<void> {
    await this.#ctx.sql.end({ timeout: 1 });
  }
}
