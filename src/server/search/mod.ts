/** Searching off the event loop: see searcher.ts for the interface, pattern.ts for the rules. */
import type { Store } from "../store/store.ts";
import { InlineSearcher } from "./inline.ts";
import type { Searcher } from "./searcher.ts";
import { isInMemoryDatabase, WorkerSearcher } from "./worker_searcher.ts";

export * from "./searcher.ts";
export * from "./pattern.ts";
export { InlineSearcher } from "./inline.ts";
export * from "./worker_searcher.ts";
export { SCAN_PAGE_ROWS } from "./scan.ts";
export { isSearchWorker, runSearchWorker, SEARCH_WORKER_NAME } from "./worker_main.ts";

/**
 * The searcher for `store`, whose database is `dbPath` (a SQLite file, or a PostgreSQL URL): a
 * worker on that database with a connection of its own, its results read again through `store`
 * so that none purged (or of a room left) meanwhile is returned; or, for an in-memory database
 * (which a worker cannot open), an InlineSearcher. Close it before the store.
 */
export function searcherFor(store: Store, dbPath: string): Searcher {
  return isInMemoryDatabase(dbPath) ? new InlineSearcher(store) : new WorkerSearcher(dbPath, {
    recheck: (id, userId) => store.visibleMessage(userId, id),
  });
}
