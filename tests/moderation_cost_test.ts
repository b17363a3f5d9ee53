// What moderation's reads cost the server when the tables are full of someone else's bans and
// mutes: each test fills them as an attacker could (ids and rooms are free to make) and checks
// that the read behind a hello, a send or a `bans` is still a key lookup or a bounded walk, and
// that the answers are still right.
//
// Run: deno test -A --lock=deno.dev.lock tests/moderation_cost_test.ts

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { MUTES_KEPT_PER_USER } from "../src/server/moderation.ts";
import { MAX_ROOMS_PER_USER } from "../src/server/rooms.ts";
import { SqliteStore } from "../src/server/store/sqlite.ts";
import { T0, world } from "./fixtures.ts";

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

/** A world where alice made #ops and bob joined it. */
function opsOfTwo() {
  const w = world();
  const alice = w.join("alice");
  const bob = w.join("bob");
  for (const peer of [alice, bob]) w.roomOf(peer, { type: "join", room: "#ops" });
  return { w, alice, bob };
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

/** Puts `count` mutes of `target` in rooms #m0, #m1, … straight into the store (as many ops would). */
function muteIn(path: string, target: string, count: number): void {
  const db = new DatabaseSync(path);
  db.exec("BEGIN");
  const add = db.prepare(
    `INSERT INTO restrictions (kind, scope, target, on_address, by, time, until)
     VALUES ('mute', ?, ?, 0, 'op', ?, NULL)`,
  );
  for (let i = 0; i < count; i++) add.run(`#m${i}`, target, T0);
  db.exec("COMMIT");
  db.close();
}

Deno.test("moderation cost: a user muted in 10,000 rooms logs in at no cost and is kept in memory for the rooms they send in only", () => {
  // before: each hello read all 10,000 (40 ms) and kept them while online (2.5 MB); one mute per
  // room is all a room's operator needs, and rooms and ids are free to make
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/chat.db`;
  const store = new SqliteStore(path);
  try {
    const w = world({ store });
    const alice = w.join("alice");
    w.roomOf(alice, { type: "join", room: "#ops" });
    const victim = w.join("victim");
    w.roomOf(victim, { type: "join", room: "#ops" });
    w.roomOf(victim, { type: "join", room: "#free" });
    w.ask(alice, { type: "mute", room: "#ops", user: victim.id });
    muteIn(path, victim.id, 10_000);
    w.say(victim, { type: "bye" });
    w.hub.disconnect(victim);
    const again = w.join("victim", { token: victim.token });
    assert.equal(w.hub.moderation.mutesKept, 0, "nothing read at hello");
    // still enforced where it holds; nowhere else
    assert.match(
      w.refused(again, { type: "send", text: "x", room: "#ops" }).message,
      /you are muted in #ops/,
    );
    assert.equal(w.ask(again, { type: "send", text: "x", room: "#free" }).type, "ack");
    assert.equal(w.ask(again, { type: "send", text: "x" }).type, "ack");
    // the server scope, #ops, #free and the general room: four kept, not 10,001
    assert.equal(w.hub.moderation.mutesKept, 4);
  } finally {
    store.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("moderation cost: what is kept of one user's mutes stays within MUTES_KEPT_PER_USER however many rooms they pass through; a mute still holds after", () => {
  const { w, alice, bob } = opsOfTwo();
  w.ask(alice, { type: "mute", room: "#ops", user: bob.id, duration: 600 });
  assert.equal(w.refused(bob, { type: "send", text: "x", room: "#ops" }).code, "forbidden");
  for (let i = 0; i < 3 * MAX_ROOMS_PER_USER; i++) {
    const room = `#pass${i}`;
    w.roomOf(w.join(`maker${i}`), { type: "join", room }); // rooms made an hour apiece
    w.clock.t += 3_000; // within the room changes a user may make a minute
    w.roomOf(bob, { type: "join", room });
    assert.equal(w.ask(bob, { type: "send", text: "x", room }).type, "ack");
    w.ask(bob, { type: "part", room });
    assert.ok(w.hub.moderation.mutesKept <= MUTES_KEPT_PER_USER, `${w.hub.moderation.mutesKept}`);
  }
  // forgotten in between, read again: still muted, until it ends by the clock
  assert.equal(w.refused(bob, { type: "send", text: "x", room: "#ops" }).code, "forbidden");
  w.clock.t += 600_000;
  assert.equal(w.ask(bob, { type: "send", text: "x", room: "#ops" }).type, "ack");
  // lifted and put on again while online: as the store says
  w.ask(alice, { type: "mute", room: "#ops", user: bob.id });
  assert.equal(w.refused(bob, { type: "send", text: "x", room: "#ops" }).code, "forbidden");
  w.ask(alice, { type: "unmute", room: "#ops", user: bob.id });
  assert.equal(w.ask(bob, { type: "send", text: "x", room: "#ops" }).type, "ack");
  // gone offline: nothing of theirs kept
  w.hub.disconnect(bob);
  assert.equal(w.hub.moderation.mutesKept, 0);
});

Deno.test("moderation cost: a mute that cannot be read is not kept as none; read again once the store answers", () => {
  const { w, alice, bob } = opsOfTwo();
  w.ask(alice, { type: "mute", room: "#ops", user: bob.id });
  w.hub.disconnect(bob);
  const again = w.join("bob", { token: bob.token });
  const read = w.store.restriction.bind(w.store);
  w.store.restriction = () => {
    throw new Error("disk I/O error");
  };
  // the send itself may go through (the store takes messages); nothing wrong is remembered
  w.ask(again, { type: "send", text: "x", room: "#ops" });
  assert.equal(w.hub.moderation.mutesKept, 0);
  w.store.restriction = read;
  assert.equal(w.refused(again, { type: "send", text: "x", room: "#ops" }).code, "forbidden");
});
