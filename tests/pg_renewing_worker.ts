/**
 * The PostgreSQL store's worker (postgres_worker_main.ts) as tests/pg_store_test.ts runs it to
 * see what happens when postgres.js throws from a socket callback (as it does while PostgreSQL
 * restarts): just before the first request whose op is this module's `?throwBefore=` query,
 * an uncaught error reaches the worker, which takes a new pool.
 */
import { workerData } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import type { Request } from "../src/server/store/postgres_bridge.ts";
import {
  isPostgresWorkerData,
  runPostgresWorker,
} from "../src/server/store/postgres_worker_main.ts";

if (isPostgresWorkerData(workerData)) {
  const { port } = workerData;
  const throwBefore = new URL(import.meta.url).searchParams.get("throwBefore");
  let thrown = false;
  const wrapped = {
    postMessage: (message: unknown) => port.postMessage(message),
    on: (event: "message", listener: (request: Request) => void) =>
      port.on(event, (request: Request) => {
        if (!thrown && request.op === throwBefore) {
          thrown = true;
          globalThis.dispatchEvent(
            new ErrorEvent("error", { error: new Error("write after end (simulated)") }),
          );
        }
        listener(request);
      }),
  } as unknown as MessagePort;
  runPostgresWorker({ ...workerData, port: wrapped });
}
