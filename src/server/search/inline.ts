/**
 * A searcher on the calling thread, for stores a worker cannot open (`:memory:` databases: the
 * hub's unit tests). Same patterns, cap, prefilter and time budget as WorkerSearcher.
 *
 * It runs synchronously, in one go, through `Store.search`: that interface has no paging to
 * resume a scan from, and a scan in one go sees one snapshot, so its results are live when it
 * returns (no purge can come in between). The price is that it holds the event loop for up to
 * the time budget — acceptable for the small stores it is meant for, never for the server's.
 */
import type { Store } from "../store/store.ts";
import { compilePattern } from "./pattern.ts";
import {
  SEARCH_TIME_BUDGET_MS,
  type Searcher,
  type SearchOutcome,
  type SearchRequest,
  timeoutOutcome,
} from "./searcher.ts";

const OUT_OF_TIME = Symbol("out of time");

export class InlineSearcher implements Searcher {
  readonly #store: Store;
  readonly #timeBudgetMs: number;
  #closed = false;

  constructor(store: Store, options: { timeBudgetMs?: number } = {}) {
    this.#store = store;
    this.#timeBudgetMs = options.timeBudgetMs ?? SEARCH_TIME_BUDGET_MS;
  }

  search(request: SearchRequest): Promise<SearchOutcome> {
    if (this.#closed) return Promise.reject(new Error("the searcher is closed"));
    try {
      return Promise.resolve(this.searchNow(request));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The same search, answered synchronously (never `busy`: nothing else can run meanwhile). */
  searchNow(request: SearchRequest): SearchOutcome {
    const deadline = performance.now() + this.#timeBudgetMs;
    const compiled = compilePattern(request.pattern);
    if (!compiled.ok) return compiled;
    const { matches } = compiled.pattern;
    try {
      const found = this.#store.search(
        request.userId,
        (text) => {
          const matched = matches(text);
          // the only way out of Store.search midway is an exception
          if (performance.now() > deadline) throw OUT_OF_TIME;
          return matched;
        },
        request.limit,
        request.room,
      );
      return { ok: true, total: found.total, messages: found.messages };
    } catch (error) {
      if (error === OUT_OF_TIME) return timeoutOutcome(this.#timeBudgetMs);
      throw error;
    }
  }

  close(): void {
    this.#closed = true;
  }
}
