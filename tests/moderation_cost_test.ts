// What moderation's reads cost the server when the tables are full of someone else's bans and
// mutes: each test fills them as an attacker could (ids and rooms are free to make) and checks
// that the read behind a hello, a send or a `bans` is still a key lookup or a bounded walk, and
// that the answers are still right.
//
// Run: deno test -A --lock=deno.dev.lock tests/moderation_cost_test.ts

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../src/server/store/sqlite.ts";

/** A store in a file, and a second connection to it to fill tables fast (as a test may). */
function filledStore(fill: (db: DatabaseSync) => void): { store: SqliteStore; dir: string } {
  const dir = Deno.makeTempDirSync();
  const store = new SqliteStore(`${dir}/chat.db`);
  const db = new DatabaseSync(`${dir}/chat.db`);
  db.exec("BEGIN");
  fill(db);
  db.exec("COMMIT");
  db.close();
  return { store, dir };
}

/** Milliseconds per call of `fn`, the best of three rounds of `n`. */
function perCall(n: number, fn: (i: number) => void): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    best = Math.min(best, (performance.now() - started) / n);
  }
  return best;
}

Deno.test("moderation cost: one user's mutes are read by the target's index, not by walking every mute on the server", () => {
  // 100,000 mutes of other users (20 rooms of 5,000): the primary key begins with the kind, and
  // without the index hint SQLite walked all of them for every read (5 ms here; 10 ms at 200,000)
  const { store, dir } = filledStore((db) => {
    const add = db.prepare(
      `INSERT INTO restrictions (kind, scope, target, on_address, by, time, until)
       VALUES ('mute', ?, ?, 0, 'op', ?, NULL)`,
    );
    for (let i = 0; i < 100_000; i++) add.run(`#r${i % 20}`, `u${i}`, i);
    add.run("#r1", "victim", 1);
    add.run("", "victim", 2);
  });
  try {
    // still right: the victim's two mutes, nobody else's
    assert.deepEqual(store.restrictionsOf("victim", "mute", 0).map((r) => r.scope).sort(), [
      "",
      "#r1",
    ]);
    assert.deepEqual(store.restrictionsOf("nobody", "mute", 0), []);
    const lookup = perCall(200, (i) => store.restriction("mute", "#r1", `u${i}`, 0));
    const mutesOf = perCall(200, (i) => store.restrictionsOf(`nobody${i}`, "mute", 0));
    // a key lookup costs ~0.01 ms; the walk cost ~300 times that
    assert.ok(mutesOf < lookup * 20 + 0.05, `restrictionsOf ${mutesOf} ms, a lookup ${lookup} ms`);
  } finally {
    store.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
