/**
 * The PostgreSQL store's worker thread: it holds the postgres.js pool and runs PostgresStore's
 * requests one at a time, in the order they come. Each answer goes back on the request port,
 * then the shared counter is bumped and notified: the store's thread, blocked in Atomics.wait,
 * wakes and takes the answer with receiveMessageOnPort (postgres.ts).
 *
 * A request whose caller has given up (its deadline passed while it waited here) is not run:
 * a write the caller was told failed then never happens (a rollback or close runs whatever).
 */
import type postgres from "postgres";
import { connect, type Ctx, openSchema, OPS } from "./postgres_ops.ts";
import {
  type Answer,
  type PostgresWorkerData,
  type Request,
  safeAddress,
} from "./postgres_bridge.ts";

export { isPostgresWorkerData } from "./postgres_bridge.ts";

/** How long past its deadline a request may hold up the next (its caller has given up). */
const GIVE_UP_GRACE_MS = 500;

/** Serves the store's requests until it asks to close. */
export function runPostgresWorker(data: PostgresWorkerData): void {
  const { port } = data;
  const signal = new Int32Array(data.signal);
  const ctx: Ctx = { sql: connect(data.url), tx: null };
  const vacuum = vacuumer(() => ctx.sql, data.vacuumIntervalMs);
  // postgres.js can throw from a socket callback while PostgreSQL restarts (a write on a socket
  // it has already dropped): uncaught, that would end this worker, and the store with it for
  // good. The worker stays; the pool, whose state is not to be trusted after it, is replaced.
  // A transaction open then goes with the old pool: until the store ends it (commitTx or
  // rollback), its later requests fail rather than run outside it on the new pool, and its
  // commit is refused, not taken for done.
  let txLost = false;
  const renew = (event: Event) => {
    event.preventDefault();
    const old = ctx.sql;
    ctx.sql = connect(data.url);
    if (ctx.tx) txLost = true;
    ctx.tx = null;
    old.end({ timeout: 0 }).catch(() => {});
  };
  globalThis.addEventListener("error", renew);
  globalThis.addEventListener("unhandledrejection", renew);
  let chain = Promise.resolve();

  const answer = (message: Answer) => {
    port.postMessage(message);
    Atomics.add(signal, 0, 1);
    Atomics.notify(signal, 0);
  };

  const handle = async (request: Request) => {
    // a rollback is always run: skipped, the transaction would stay open under later requests
    const mustRun = request.op === "rollback" || request.op === "close";
    if (Date.now() > request.deadline && !mustRun) return;
    try {
      const value = await run(request);
      answer({ id: request.id, ok: true, value });
    } catch (error) {
      answer({
        id: request.id,
        ok: false,
        message: describe(error, data.url),
        idTaken: request.op === "createIdentity" && isIdTaken(error),
      });
    }
  };

  const run = async (request: Request): Promise<unknown> => {
    if (txLost && request.op !== "ping" && request.op !== "close") {
      if (request.op === "commitTx" || request.op === "rollback") txLost = false;
      if (request.op !== "rollback") {
        throw new Error("the transaction was lost with its connection; none of it was kept");
      }
    }
    switch (request.op) {
      case "ping":
        return null;
      case "open":
        await openSchema(ctx.sql, Date.now());
        return null;
      case "begin": {
        const tx = await ctx.sql.reserve();
        try {
          await tx`BEGIN`;
          // given up on meanwhile: later requests must not run inside it
          if (Date.now() > request.deadline) throw new Error("BEGIN came too late");
        } catch (error) {
          await tx.unsafe("ROLLBACK").catch(() => {});
          tx.release();
          throw error;
        }
        ctx.tx = tx;
        return null;
      }
      case "commitTx":
      case "rollback": {
        const tx = ctx.tx;
        ctx.tx = null;
        if (!tx) return null;
        try {
          await tx.unsafe(request.op === "commitTx" ? "COMMIT" : "ROLLBACK");
        } catch (error) {
          if (request.op === "commitTx") await tx.unsafe("ROLLBACK").catch(() => {});
          throw error;
        } finally {
          tx.release();
        }
        return null;
      }
      case "close":
        vacuum.stop();
        await ctx.sql.end({ timeout: 1 });
        return null;
      default: {
        const op = OPS[request.op] as (c: Ctx, ...args: unknown[]) => Promise<unknown>;
        const value = await op(ctx, ...request.args);
        if (request.op === "commit" && (value as { purged: boolean }).purged && !ctx.tx) {
          vacuum.soon();
        }
        return value;
      }
    }
  };

  port.on("message", (request: Request) => {
    // requests run one after another, but none holds up the rest past its deadline: a query on
    // a connection that PostgreSQL never answers (it stopped mid-query, or hangs while starting)
    // would otherwise stop every later request, the pings that tell it is back among them
    chain = chain.then(() => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, request.deadline - Date.now()) + GIVE_UP_GRACE_MS);
      });
      return Promise.race([handle(request), late]).finally(() => clearTimeout(timer));
    });
  });
}

/**
 * A purge leaves the old row version, text and all, in the table's file until VACUUM reclaims
 * it: one runs after a commit that purged, at most once per interval (VACUUM cannot run in a
 * transaction; it runs on the pool, beside the requests, and never holds them up).
 */
function vacuumer(pool: () => postgres.Sql, intervalMs: number) {
  let last = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  const run = async () => {
    timer = undefined;
    if (running) return;
    running = true;
    last = Date.now();
    try {
      await pool()`VACUUM messages`;
    } catch {
      // owed no more than before: the next purge schedules another
    } finally {
      running = false;
    }
  };
  return {
    soon() {
      // Infinity: never (the tests that show what a purge leaves without it)
      if (timer !== undefined || !Number.isFinite(intervalMs)) return;
      timer = setTimeout(run, Math.max(0, last + intervalMs - Date.now()));
    },
    stop() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** A unique violation on the identities' ids: another node issued the same id just now. */
function isIdTaken(error: unknown): boolean {
  const e = error as { code?: string; constraint_name?: string };
  return e.code === "23505" && (e.constraint_name ?? "").startsWith("identities");
}

/** One clear sentence for what went wrong, naming the server but never its password. */
function describe(error: unknown, url: string): string {
  const e = error as { code?: string; message?: string; name?: string };
  const where = safeAddress(url);
  switch (e.code) {
    case "ECONNREFUSED":
      return `PostgreSQL at ${where} refused the connection (is it running?)`;
    case "CONNECT_TIMEOUT":
      return `PostgreSQL at ${where} did not accept a connection in time`;
    case "CONNECTION_CLOSED":
    case "CONNECTION_ENDED":
    case "CONNECTION_DESTROYED":
    case "ECONNRESET":
      return `the connection to PostgreSQL at ${where} was lost (${e.message ?? e.code})`;
  }
  const message = e.message ?? String(error);
  return e.name === "PostgresError"
    ? `PostgreSQL at ${where} refused the statement: ${message}`
    : `PostgreSQL at ${where} failed: ${message}`;
}
