/**
 * What the hub asks of a searcher, and the limits every searcher keeps. Two implementations:
 * WorkerSearcher (the server: a worker thread with its own SQLite connection, so a search never
 * holds up delivery) and InlineSearcher (in-memory stores, which a worker cannot open).
 */
import type { StoredMessage } from "../store/store.ts";

export interface SearchRequest {
  userId: string;
  pattern: string;
  limit: number;
  /** Only this room's messages (the user is in it). */
  room?: string;
}

export type SearchOutcome =
  | { ok: true; total: number; messages: StoredMessage[] }
  | { ok: false; code: "bad_pattern" | "search_timeout" | "busy"; message: string };

export interface Searcher {
  search(request: SearchRequest): Promise<SearchOutcome>;
  close(): void;
}

/** A search still scanning after this long is stopped (`search_timeout`). */
export const SEARCH_TIME_BUDGET_MS = 3_000;

/**
 * Searches waiting server-wide behind the one running; more are refused (`busy`). With the time
 * budget this bounds the wait for the last one to about 9 × 3 s.
 */
export const MAX_PENDING_SEARCHES = 8;

export function timeoutOutcome(budgetMs: number): SearchOutcome {
  const seconds = Number((budgetMs / 1000).toFixed(1));
  return {
    ok: false,
    code: "search_timeout",
    message: `that search took longer than ${seconds} s and was stopped; ` +
      "try a more specific pattern",
  };
}

/**
 * Searches one user may have queued or running: a script may send a few in a row, but nobody
 * fills the server's queue alone.
 */
export const MAX_SEARCHES_PER_USER = 3;

export const ALREADY_SEARCHING: SearchOutcome = {
  ok: false,
  code: "busy",
  message: `you already have ${MAX_SEARCHES_PER_USER} searches under way; ` +
    "wait for their results before starting another",
};

export const TOO_MANY_SEARCHES: SearchOutcome = {
  ok: false,
  code: "busy",
  message: "the server is busy with other searches; try again in a few seconds",
};
