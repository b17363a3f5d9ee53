/**
 * What PostgresStore (postgres.ts) and its worker (postgres_worker_main.ts) say to each other,
 * in a module without postgres.js: the store's thread, and src/main.ts (which must know the
 * worker when the bundle is started as one), never load the driver.
 */
import type { MessagePort } from "node:worker_threads";
import type { OpName } from "./postgres_ops.ts";

/** The worker's name: how the bundle, started as a worker, knows to run this loop. */
export const POSTGRES_WORKER_NAME = "chat-postgres";

export interface PostgresWorkerData {
  name: typeof POSTGRES_WORKER_NAME;
  url: string;
  port: MessagePort;
  /** Int32Array over it: [0] counts answers posted. */
  signal: SharedArrayBuffer;
  /** At most one VACUUM of messages this often, after commits that purged (Infinity: never). */
  vacuumIntervalMs: number;
}

/** Requests that are not Store operations (`ping`: a round trip without SQL). */
export type Control = "open" | "begin" | "commitTx" | "rollback" | "close" | "ping";

export interface Request {
  id: number;
  op: OpName | Control;
  args: unknown[];
  /** Date.now() after which the caller no longer waits for the answer. */
  deadline: number;
}

export type Answer =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; message: string; idTaken?: boolean };

/** True when `data` is this worker's (the bundle checks it first thing). */
export function isPostgresWorkerData(data: unknown): data is PostgresWorkerData {
  return typeof data === "object" && data !== null &&
    (data as { name?: unknown }).name === POSTGRES_WORKER_NAME;
}

/** host:port/database of a postgres URL, without user or password. */
export function safeAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return "the configured address";
  }
}

/** True for a `postgres://` or `postgresql://` URL. */
export function isPostgresUrl(spec: string): boolean {
  return /^postgres(ql)?:\/\//i.test(spec);
}
