/**
 * `chat admin`: server operators granted, revoked and listed in the server's database, by
 * whoever runs the server. SQLite in WAL mode lets this run beside a running server; the server
 * reads its operators afresh on every use, so a change counts at once. Each change goes into the
 * moderation log as done by `admin`.
 */
import { ADMIN } from "../server/moderation.ts";
import { MODLOG_KEEP } from "../server/limits.ts";
import { SqliteStore } from "../server/store/sqlite.ts";
import type { AdminArgs } from "./args.ts";

export async function runAdmin(
  args: Exclude<AdminArgs, { help: true }>,
  print: (line: string) => void = console.log,
  now: () => number = Date.now,
): Promise<number> {
  try {
    await Deno.stat(args.db);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Error(
      `there is no database at ${args.db}; give the server's with --db (or CHAT_DB)`,
    );
  }
  const store = new SqliteStore(args.db);
  try {
    if (args.action === "ops") {
      const ops = store.serverOperators();
      print(ops.length > 0 ? ops.join("\n") : "no server operators yet (chat admin op ID)");
      return 0;
    }
    const id = store.canonicalId(args.id);
    if (id === null) {
      throw new Error(
        `no id ${args.id} was ever issued by this server (the id, as /who shows it, e.g. alice_1234)`,
      );
    }
    const changed = store.atomically(() => {
      const done = args.action === "op"
        ? store.addServerOperator(id, now())
        : store.removeServerOperator(id);
      const action = args.action === "op" ? "opped" : "deopped";
      if (done) store.logModeration({ time: now(), action, by: ADMIN, user: id }, MODLOG_KEEP);
      return done;
    });
    if (args.action === "op") {
      print(changed ? `${id} is a server operator now` : `${id} was a server operator already`);
    } else {
      print(changed ? `${id} is no longer a server operator` : `${id} was not a server operator`);
    }
    return 0;
  } finally {
    store.close();
  }
}
