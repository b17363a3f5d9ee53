/**
 * Entry of the PostgreSQL store's worker when running from source or a compiled binary (inside
 * the single-file bundle, the bundle itself is started as the worker: src/main.ts).
 */
import { workerData } from "node:worker_threads";
import { isPostgresWorkerData, runPostgresWorker } from "./postgres_worker_main.ts";

if (isPostgresWorkerData(workerData)) runPostgresWorker(workerData);
