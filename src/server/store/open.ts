/**
 * The store a `--store` spec names: a `postgres://` or `postgresql://` URL is a PostgreSQL
 * database (shared by the nodes of a cluster), anything else the path of a SQLite file.
 */
import { isPostgresUrl, PostgresStore } from "./postgres.ts";
import { SqliteStore } from "./sqlite.ts";

export { isPostgresUrl } from "./postgres.ts";

export function openStore(spec: string): SqliteStore | PostgresStore {
  return isPostgresUrl(spec) ? new PostgresStore(spec) : new SqliteStore(spec);
}
