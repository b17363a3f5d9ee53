// Unit tests for src/server/presence.ts on its own (no hub): who is online, `@name` lookups,
// announcing joins and leaves, and delivering one encoded frame to an audience.
//
// Beyond tests/hub_test.ts: the exact boundary of PRESENCE_NAMES_LIMIT (200 named, 201 counted),
// the count's timing per PRESENCE_INTERVAL_MS on the injected clock, the name index after a
// replacement and a leave, `deliver`'s count and its each-once rule, and `users`' limit.
//
// Run: deno test -A --lock=deno.dev.lock tests/presence_test.ts

import assert from "node:assert/strict";
import { Presence, PRESENCE_INTERVAL_MS, PRESENCE_NAMES_LIMIT } from "../src/server/presence.ts";
import { encodeFrame } from "../src/protocol/codec.ts";
import { FakePeer, T0 } from "./fixtures.ts";

const tom = { id: "tom_0001", name: "tom" };
const alice = { id: "alice_0002", name: "Alice" };
const alice2 = { id: "alice_0003", name: "alice" };

/** Presence with these users online, each on a fresh peer; returns the peers too. */
function room(...users: { id: string; name: string }[]) {
  const presence = new Presence();
  const peers = users.map((user) => {
    const peer = new FakePeer(user.id);
    assert.equal(presence.add(peer, user), undefined);
    return peer;
  });
  return { presence, peers };
}

Deno.test("presence: add sets the peer's user; peers and users in join order; size", () => {
  const { presence, peers } = room(tom, alice, alice2);
  assert.equal(presence.size, 3);
  assert.deepEqual(peers[0].user, tom);
  assert.deepEqual([...presence.peers()], peers);
  assert.deepEqual(presence.users(), [tom, alice, alice2]);
  assert.deepEqual(presence.users(2), [tom, alice], "at most `limit`, the first to join");
  assert.deepEqual(presence.users(0), []);
  assert.equal(presence.peer("alice_0002"), peers[1]);
  assert.equal(presence.peer("nobody_0000"), undefined);
});

Deno.test("presence: named resolves @name ignoring case, each user once, only those online", () => {
  const { presence } = room(tom, alice, alice2);
  assert.deepEqual(presence.named(["ALICE"]), [alice, alice2], "both alices, whatever the case");
  assert.deepEqual(
    presence.named(["alice", "Alice", "tom"]),
    [alice, alice2, tom],
    "no duplicates",
  );
  assert.deepEqual(presence.named(["bob", "tom_0001"]), [], "names only; nobody called that");
});

Deno.test("presence: a second connection for the same id replaces the first; the name stays", () => {
  const { presence, peers: [first] } = room(tom);
  const second = new FakePeer("second");
  assert.equal(presence.add(second, tom), first, "the replaced connection is returned");
  assert.equal(presence.size, 1);
  assert.equal(presence.peer(tom.id), second);
  assert.deepEqual(presence.named(["tom"]), [tom]);
  // the old connection ending is not the user leaving
  assert.equal(presence.remove(first), undefined);
  assert.equal(presence.peer(tom.id), second);
  assert.deepEqual(presence.named(["tom"]), [tom], "the name index kept the user");
  assert.deepEqual(presence.remove(second), tom);
  assert.equal(presence.size, 0);
  assert.deepEqual(presence.named(["tom"]), [], "and forgot them once they left");
});

Deno.test("presence: removing one of two users with a name keeps the other findable", () => {
  const { presence, peers } = room(alice, alice2);
  assert.deepEqual(presence.remove(peers[0]), alice);
  assert.deepEqual(presence.named(["alice"]), [alice2]);
  assert.equal(presence.remove(new FakePeer("never said hello")), undefined);
  assert.equal(presence.remove(peers[0]), undefined, "a second remove is a no-op");
  assert.equal(presence.size, 1);
});

Deno.test("presence: announce names a join to everyone but the one joining, encoded once", () => {
  const { presence, peers: [a, b, c] } = room(tom, alice, alice2);
  presence.announce({ type: "presence", joined: alice2, online: 3 }, c);
  assert.deepEqual(a.frames, [{ type: "presence", joined: alice2, online: 3 }]);
  assert.deepEqual(b.frames, a.frames);
  assert.deepEqual(c.frames, []);
  assert.equal(a.raw[0], b.raw[0], "the same bytes to each");
  // nothing is left for the tick: a named announcement is the whole of it
  presence.tick(T0 + 10 * PRESENCE_INTERVAL_MS);
  assert.equal(a.frames.length, 1);
});

Deno.test("presence: up to PRESENCE_NAMES_LIMIT online joins are named; one more is a count at the next tick, at most once per PRESENCE_INTERVAL_MS", () => {
  const users = Array.from({ length: PRESENCE_NAMES_LIMIT }, (_, i) => ({
    id: `u${i}_0001`,
    name: `u${i}`,
  }));
  const { presence, peers } = room(...users);
  const watcher = peers[0];
  // exactly at the limit: by name
  presence.announce({ type: "presence", left: tom, online: PRESENCE_NAMES_LIMIT });
  assert.deepEqual(watcher.frames, [
    { type: "presence", left: tom, online: PRESENCE_NAMES_LIMIT },
  ]);
  watcher.clear();
  // one more online: a count, not a name, and not at once
  const extra = { id: "x_0001", name: "x" };
  presence.add(new FakePeer("x"), extra);
  presence.announce({ type: "presence", joined: extra, online: PRESENCE_NAMES_LIMIT + 1 });
  assert.deepEqual(watcher.frames, []);
  let t = T0;
  presence.tick(t);
  assert.deepEqual(watcher.frames, [{ type: "presence", online: PRESENCE_NAMES_LIMIT + 1 }]);
  // another change within the interval waits for it
  const more = { id: "y_0001", name: "y" };
  presence.add(new FakePeer("y"), more);
  presence.announce({ type: "presence", joined: more, online: PRESENCE_NAMES_LIMIT + 2 });
  presence.tick(t + PRESENCE_INTERVAL_MS - 1);
  assert.equal(watcher.frames.length, 1, "not before PRESENCE_INTERVAL_MS");
  t += PRESENCE_INTERVAL_MS;
  presence.tick(t);
  assert.deepEqual(watcher.frames.at(-1), { type: "presence", online: PRESENCE_NAMES_LIMIT + 2 });
  // no change, no frame
  presence.tick(t + 5 * PRESENCE_INTERVAL_MS);
  assert.equal(watcher.frames.length, 2);
});

Deno.test("presence: broadcast sends the same bytes to everyone online but `except`", () => {
  const { presence, peers: [a, b, c] } = room(tom, alice, alice2);
  presence.broadcast({ type: "pong" }, b);
  assert.deepEqual(a.frames, [{ type: "pong" }]);
  assert.deepEqual(b.frames, []);
  assert.equal(a.raw[0], c.raw[0]);
});

Deno.test("presence: deliver sends to the audience online, each once, and says to how many", () => {
  const { presence, peers: [t, a, a2] } = room(tom, alice, alice2);
  const bytes = encodeFrame({ type: "pong" });
  assert.equal(presence.deliver({ from: tom.id }, bytes), 3, "public: everyone online");
  assert.deepEqual([t, a, a2].map((p) => p.raw.length), [1, 1, 1]);
  // a DM: its author and recipients online, the author once even when named among them
  const dm = { from: tom.id, to: [alice.id, tom.id, "bob_0009"] };
  assert.equal(presence.deliver(dm, bytes), 2, "bob is offline: not counted");
  assert.deepEqual([t, a, a2].map((p) => p.raw.length), [2, 2, 1]);
  assert.ok(t.raw.every((b) => b === bytes), "the bytes handed in, not a copy");
  // an author who has left: the recipients still get it
  presence.remove(t);
  assert.equal(presence.deliver({ from: tom.id, to: [alice2.id] }, bytes), 1);
  assert.deepEqual([t, a, a2].map((p) => p.raw.length), [2, 2, 2]);
});
