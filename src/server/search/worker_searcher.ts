/**
 * The server's searcher: searches run in one worker thread with its own connection (read-only
 * SQLite, or PostgreSQL), so however long one takes, the event loop keeps delivering messages.
 *
 * One search at a time, first come first served; at most MAX_PENDING_SEARCHES waiting and one
 * per user queued or running, the rest refused at once with `busy`. Each is stopped after the
 * time budget by the worker itself; should the worker not answer (stuck inside re2js), the main
 * thread terminates it a little later, answers `search_timeout` and starts a fresh one.
 */
import type { StoredMessage } from "../store/store.ts";
import {
  ALREADY_SEARCHING,
  MAX_PENDING_SEARCHES,
  MAX_SEARCHES_PER_USER,
  SEARCH_TIME_BUDGET_MS,
  type Searcher,
  type SearchOutcome,
  type SearchRequest,
  timeoutOutcome,
  TOO_MANY_SEARCHES,
} from "./searcher.ts";
import { compilePattern } from "./pattern.ts";
import { type FromSearchWorker, SEARCH_WORKER_NAME, type ToSearchWorker } from "./worker_main.ts";

/** How long past the time budget the worker may take to answer before it is terminated. */
export const WATCHDOG_GRACE_MS = 2_000;
/** How long a new worker may take to load and open the database. */
export const WORKER_START_TIMEOUT_MS = 15_000;

export interface WorkerSearcherOptions {
  /** Stop each search after this long (default {@link SEARCH_TIME_BUDGET_MS}). */
  timeBudgetMs?: number;
  /**
   * Reads each result again on the main thread just before the search resolves: the message
   * as it is now (a quoted original may have been purged since), or null when the searcher may
   * no longer see it (purged, or its room left while the worker ran) — it is then left out, and
   * out of the total. Pass `(id, userId) => store.visibleMessage(userId, id)`. Without it,
   * results are as the worker read them.
   */
  recheck?: (id: string, userId: string) => StoredMessage | null;
  /** The worker's module (tests of the bundle); by default found from this module's URL. */
  workerUrl?: string | URL;
}

interface Job {
  id: number;
  request: SearchRequest;
  resolve(outcome: SearchOutcome): void;
  reject(error: Error): void;
}

export class WorkerSearcher implements Searcher {
  readonly #dbPath: string;
  readonly #timeBudgetMs: number;
  readonly #recheck?: (id: string, userId: string) => StoredMessage | null;
  readonly #workerUrl: string | URL;
  #worker: Worker | null = null;
  #ready = false;
  #startTimer: ReturnType<typeof setTimeout> | undefined;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  readonly #waiting: Job[] = [];
  #running: Job | null = null;
  /** Searches waiting or running, by user. */
  readonly #users = new Map<string, number>();
  #nextId = 1;
  #closed = false;

  /** Starts the worker at once, so it is warm by the first search. */
  constructor(dbPath: string, options: WorkerSearcherOptions = {}) {
    if (isInMemoryDatabase(dbPath)) {
      throw new Error("a worker cannot open an in-memory database: use InlineSearcher");
    }
    this.#dbPath = dbPath;
    this.#timeBudgetMs = options.timeBudgetMs ?? SEARCH_TIME_BUDGET_MS;
    this.#recheck = options.recheck;
    this.#workerUrl = options.workerUrl ?? defaultWorkerUrl();
    this.#spawn();
  }

  /**
   * Resolves with the outcome, `busy` at once when over the limits. Rejects only when the server
   * failed (the database could not be read, the worker died) or the searcher was closed.
   */
  search(request: SearchRequest): Promise<SearchOutcome> {
    if (this.#closed) return Promise.reject(new Error("the searcher is closed"));
    // a pattern that cannot run is refused here, at once, without taking a place in the queue
    const compiled = compilePattern(request.pattern);
    if (!compiled.ok) return Promise.resolve(compiled);
    const mine = this.#users.get(request.userId) ?? 0;
    if (mine >= MAX_SEARCHES_PER_USER) return Promise.resolve(ALREADY_SEARCHING);
    if (this.#waiting.length >= MAX_PENDING_SEARCHES) return Promise.resolve(TOO_MANY_SEARCHES);
    return new Promise((resolve, reject) => {
      this.#users.set(request.userId, mine + 1);
      this.#waiting.push({ id: this.#nextId++, request, resolve, reject });
      this.#pump();
    });
  }

  /** Terminates the worker; every search waiting or running is rejected. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#discardWorker();
    const error = new Error("the searcher was closed");
    if (this.#running) this.#finish(this.#running, (job) => job.reject(error));
    this.#failWaiting(error);
  }

  #spawn(): void {
    const worker = new Worker(this.#workerUrl, { type: "module", name: SEARCH_WORKER_NAME });
    this.#worker = worker;
    this.#ready = false;
    worker.onmessage = (event: MessageEvent<FromSearchWorker>) => {
      if (this.#worker === worker) this.#onMessage(event.data);
    };
    worker.onerror = (event) => {
      // an exception the worker did not catch (its code failed to load, say): never the process's
      event.preventDefault();
      if (this.#worker === worker) this.#onWorkerDied(event.message);
    };
    // neither timer keeps the process alive by itself: close() is what ends a searcher
    const startTimer = setTimeout(() => {
      this.#onWorkerDied(`the search worker did not start within ${WORKER_START_TIMEOUT_MS} ms`);
    }, WORKER_START_TIMEOUT_MS);
    Deno.unrefTimer(startTimer);
    this.#startTimer = startTimer;
    this.#post({ type: "open", dbPath: this.#dbPath });
  }

  #post(message: ToSearchWorker): void {
    this.#worker!.postMessage(message);
  }

  /** Starts the next waiting search when the worker is free. */
  #pump(): void {
    if (this.#closed || this.#running || this.#waiting.length === 0) return;
    if (!this.#worker) this.#spawn();
    if (!this.#ready) return;
    const job = this.#waiting.shift()!;
    this.#running = job;
    this.#post({
      type: "search",
      id: job.id,
      request: job.request,
      timeBudgetMs: this.#timeBudgetMs,
    });
    const watchdog = setTimeout(() => this.#onStuck(job), this.#timeBudgetMs + WATCHDOG_GRACE_MS);
    Deno.unrefTimer(watchdog);
    this.#watchdog = watchdog;
  }

  #onMessage(message: FromSearchWorker): void {
    switch (message.type) {
      case "ready":
        clearTimeout(this.#startTimer);
        this.#ready = true;
        return this.#pump();
      case "failed":
        this.#discardWorker();
        return this.#failWaiting(
          new Error(`cannot open the database to search: ${message.message}`),
        );
      case "outcome":
      case "error": {
        const job = this.#running;
        if (!job || job.id !== message.id) return;
        if (message.type === "error") {
          return this.#finish(job, (job) => job.reject(new Error(message.message)));
        }
        let outcome: SearchOutcome;
        try {
          outcome = this.#rechecked(message.outcome, job.request.userId);
        } catch (error) {
          return this.#finish(job, (job) => job.reject(error as Error));
        }
        return this.#finish(job, (job) => job.resolve(outcome));
      }
    }
  }

  /** The worker has not answered well past the budget: stop it and start another. */
  #onStuck(job: Job): void {
    if (this.#running !== job) return;
    this.#discardWorker();
    this.#finish(job, (job) => job.resolve(timeoutOutcome(this.#timeBudgetMs)));
  }

  #onWorkerDied(why: string): void {
    const wasReady = this.#ready;
    this.#discardWorker();
    const error = new Error(`the search worker failed: ${why}`);
    // one that never started would fail the same way again for everyone waiting
    if (!wasReady) this.#failWaiting(error);
    if (this.#running) this.#finish(this.#running, (job) => job.reject(error));
    this.#pump();
  }

  #finish(job: Job, settle: (job: Job) => void): void {
    clearTimeout(this.#watchdog);
    this.#running = null;
    this.#forget(job.request.userId);
    settle(job);
    this.#pump();
  }

  /** One search of `userId` is over. */
  #forget(userId: string): void {
    const left = (this.#users.get(userId) ?? 1) - 1;
    if (left > 0) this.#users.set(userId, left);
    else this.#users.delete(userId);
  }

  #failWaiting(error: Error): void {
    for (const job of this.#waiting.splice(0)) {
      this.#forget(job.request.userId);
      job.reject(error);
    }
  }

  #discardWorker(): void {
    clearTimeout(this.#startTimer);
    clearTimeout(this.#watchdog);
    this.#worker?.terminate();
    this.#worker = null;
    this.#ready = false;
  }

  /** Results as they are now: a message purged since the worker read it is left out. */
  #rechecked(outcome: SearchOutcome, userId: string): SearchOutcome {
    if (!outcome.ok || !this.#recheck) return outcome;
    const messages: StoredMessage[] = [];
    for (const message of outcome.messages) {
      const current = this.#recheck(message.id, userId);
      if (current) messages.push(current);
    }
    const gone = outcome.messages.length - messages.length;
    return { ok: true, total: outcome.total - gone, messages };
  }
}

/**
 * From source (or a compiled binary) this module is a .ts file with worker.ts beside it. In the
 * bundle this code sits in one of its chunks, and worker.ts is left out: the bundle's entry
 * (Deno.mainModule), started as a worker named SEARCH_WORKER_NAME, runs the worker loop instead of
 * the command line (src/main.ts).
 */
function defaultWorkerUrl(): string {
  return import.meta.url.endsWith(".ts")
    ? new URL("./worker.ts", import.meta.url).href
    : Deno.mainModule;
}

/** SQLite's names for a private in-memory database, which no other connection can open. */
export function isInMemoryDatabase(dbPath: string): boolean {
  return dbPath === ":memory:" || dbPath.startsWith("file::memory:") || dbPath === "";
}
