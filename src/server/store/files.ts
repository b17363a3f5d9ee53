/**
 * The database's files hold direct messages: the file is created owner-only (0600) before SQLite
 * opens it, and SQLite gives its -wal and -shm the database's own mode. A database made before
 * (or by hand) with looser modes is reported, not changed: the operator may have reasons.
 */
/** Mode of the database and its -wal/-shm: owner read/write only. */
export const DB_FILE_MODE = 0o600;

/** Creates the database file owner-only if it does not exist yet; leaves an existing one alone. */
export function createPrivateDatabase(path: string): void {
  // ":memory:", "" (a temporary database) and file: URIs are SQLite's to create
  if (path === ":memory:" || path === "" || path.startsWith("file:")) return;
  try {
    Deno.openSync(path, { write: true, createNew: true, mode: DB_FILE_MODE }).close();
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
}

/**
 * The files among `paths` that others than the owner may read or write, with their modes
 * (nothing on Windows, which has no such modes; missing files are skipped).
 */
export function looseFiles(paths: string[]): { path: string; mode: number }[] {
  if (Deno.build.os === "windows") return [];
  const loose = [];
  for (const path of paths) {
    try {
      const mode = Deno.statSync(path).mode;
      if (mode !== null && (mode & 0o077) !== 0) loose.push({ path, mode: mode & 0o777 });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return loose;
}

/** The database and the files SQLite keeps beside it. */
export function databaseFiles(path: string): string[] {
  return [path, `${path}-wal`, `${path}-shm`, `${path}-journal`];
}
