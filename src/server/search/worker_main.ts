/**
 * The search worker's side: messages it takes and sends, and its loop. It is started either from
 * worker.ts (running from source, or compiled) or, inside the single-file bundle, from the bundle
 * itself under the name {@link SEARCH_WORKER_NAME} (src/main.ts checks for it first thing).
 */
import { DatabaseScanner } from "./scan.ts";
import { isPostgresUrl } from "../store/postgres_bridge.ts";
import type { SearchOutcome, SearchRequest } from "./searcher.ts";

/** The worker's name: how the bundle, started as a worker, knows to run this loop. */
export const SEARCH_WORKER_NAME = "chat-search";

export type ToSearchWorker =
  /** A SQLite file's path, or a PostgreSQL URL. */
  | { type: "open"; dbPath: string }
  | { type: "search"; id: number; request: SearchRequest; timeBudgetMs: number };

export type FromSearchWorker =
  | { type: "ready" }
  /** The database could not be opened. */
  | { type: "failed"; message: string }
  | { type: "outcome"; id: number; outcome: SearchOutcome }
  /** The search failed for a reason of the server's, not of the pattern (a read error). */
  | { type: "error"; id: number; message: string };

/** True in a worker started as the search worker (a worker's global `name`). */
export function isSearchWorker(): boolean {
  return (globalThis as { name?: unknown }).name === SEARCH_WORKER_NAME &&
    typeof (globalThis as { postMessage?: unknown }).postMessage === "function";
}

interface WorkerScope {
  onmessage: ((event: MessageEvent<ToSearchWorker>) => void) | null;
  postMessage(message: FromSearchWorker): void;
}

/** What the worker searches with: a SQLite file's scanner or a PostgreSQL one. */
interface Scanner {
  search(request: SearchRequest, timeBudgetMs: number): SearchOutcome | Promise<SearchOutcome>;
}

/** Serves searches one at a time, in the order they come, until the worker is terminated. */
export function runSearchWorker(): void {
  const scope = globalThis as unknown as WorkerScope;
  let scanner: Scanner | null = null;
  scope.onmessage = async ({ data }) => {
    if (data.type === "open") {
      try {
        if (isPostgresUrl(data.dbPath)) {
          // loaded only here: a SQLite server's worker never loads the PostgreSQL driver
          const { PostgresScanner } = await import("./pg_scan.ts");
          const postgres = new PostgresScanner(data.dbPath);
          await postgres.ready();
          scanner = postgres;
        } else {
          scanner = new DatabaseScanner(data.dbPath);
        }
        scope.postMessage({ type: "ready" });
      } catch (error) {
        scope.postMessage({ type: "failed", message: errorMessage(error) });
      }
      return;
    }
    try {
      if (!scanner) throw new Error("the search database is not open");
      const outcome = await scanner.search(data.request, data.timeBudgetMs);
      scope.postMessage({ type: "outcome", id: data.id, outcome });
    } catch (error) {
      scope.postMessage({ type: "error", id: data.id, message: errorMessage(error) });
    }
  };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
