// A node whose bus was away reads rooms and moderation again from the store when it is back
// (cluster/resync.ts): nodes in one process on one store and a bus in memory
// (tests/cluster_fixtures.ts); the node that is "down" hears nothing of what the others did, as
// NATS loses what it carried while a node was disconnected. Each test fails without the resync.
//
// Run: deno test -A --lock=deno.dev.lock tests/cluster_resync_test.ts

import assert from "node:assert/strict";
import type { ServerFrame } from "../src/protocol/schema.ts";
import { Resync, RESYNC_SLICE_MS } from "../src/server/cluster/resync.ts";
import { T0 } from "./fixtures.ts";
import { cluster } from "./cluster_fixtures.ts";

type Frame<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

/**
 * Two nodes: alice (a server operator) on n1 made #ops and #old; bob and dave on n2 are in
 * #ops, bob in #old too. Every frame so far cleared.
 */
function twoNodes() {
  const c = cluster(2);
  const [n1, n2] = c.nodes;
  const alice = n1.join("alice", {}, "10.0.0.1");
  const bob = n2.join("bob", {}, "10.0.0.2");
  const dave = n2.join("dave", {}, "10.0.0.4");
  c.network.pump();
  c.shared.store.addServerOperator(alice.id, T0);
  for (const room of ["#ops", "#old"]) n1.roomOf(alice, { type: "join", room });
  c.network.pump();
  for (const peer of [bob, dave]) n2.roomOf(peer, { type: "join", room: "#ops" });
  n2.roomOf(bob, { type: "join", room: "#old" });
  c.network.pump();
  for (const p of [alice, bob, dave]) p.clear();
  /** n2 loses its bus: what the others send meanwhile never reaches it. */
  const away = () => n2.bus.down = true;
  /** n2's bus is back, and n2 ticks (where the cluster hears of the reconnect). */
  const back = () => {
    n2.bus.down = false;
    n2.hub.tick();
    c.network.pump();
  };
  return { ...c, n1, n2, alice, bob, dave, away, back };
}

/** Why a connection was closed, if it was. */
const cutWhy = (peer: { closed?: { reason: string } }) => peer.closed?.reason;

const roomOn = (node: { hub: { rooms: { info(room: string): unknown } } }, room: string) => {
  const info = node.hub.rooms.info(room) as Record<string, unknown> | undefined;
  if (!info) return undefined;
  const { online: _, ...kept } = info; // each node's own
  return kept;
};

Deno.test("cluster resync: a node that missed room events mends topic, privacy, member count, a kick, a removed room and a new one; its clients are told once", () => {
  const w = twoNodes();
  const erin = w.n1.join("erin", {}, "10.0.0.5");
  w.network.pump();
  for (const p of [w.bob, w.dave]) p.clear();
  w.away();
  w.clock.t += 1_000;
  w.n1.roomOf(w.alice, { type: "topic", room: "#ops", topic: "deploys only" });
  w.n1.roomOf(erin, { type: "join", room: "#ops" });
  w.n1.roomOf(w.alice, { type: "private", room: "#ops", private: true });
  w.n1.ask(w.alice, { type: "kick", room: "#ops", user: w.dave.id, reason: "spam" });
  w.n1.ask(w.alice, { type: "droproom", room: "#old" });
  w.n1.roomOf(w.alice, { type: "join", room: "#new" });
  w.network.pump();
  // what the bus lost: n2 is stale, and nobody there was told
  assert.notDeepEqual(roomOn(w.n2, "#ops"), roomOn(w.n1, "#ops"));
  assert.equal(w.n2.hub.rooms.isIn(w.dave.id, "#ops"), true);
  assert.equal(w.n2.hub.rooms.exists("#old"), true);
  assert.equal(w.n2.hub.rooms.exists("#new"), false);
  assert.deepEqual([...w.bob.frames, ...w.dave.frames], []);

  w.back();
  assert.equal(w.n2.hub.resync?.done, 1);
  const ops = roomOn(w.n2, "#ops");
  assert.deepEqual(ops, roomOn(w.n1, "#ops"));
  assert.deepEqual(
    [ops?.topic, ops?.topicBy, ops?.topicAt, ops?.private, ops?.members],
    ["deploys only", w.alice.id, T0 + 1_000, true, 3],
  );
  assert.equal(w.n2.hub.rooms.exists("#old"), false);
  assert.deepEqual(roomOn(w.n2, "#new"), roomOn(w.n1, "#new"));
  assert.equal(w.n2.hub.rooms.size, w.n1.hub.rooms.size);
  // dave is out of #ops on n2 too, told as for a part (after the topic, set while he was in it:
  // rooms are mended before each user's memberships); he cannot send there
  assert.equal(w.n2.hub.rooms.isIn(w.dave.id, "#ops"), false);
  assert.deepEqual(w.dave.of("room").map((e) => [e.event, e.room.name]), [
    ["topic", "#ops"],
    ["parted", "#ops"],
  ]);
  assert.equal(w.n2.refused(w.dave, { type: "send", text: "x", room: "#ops" }).code, "not_found");
  // bob: the topic (by whom), dave leaving, and out of the removed #old — each once
  assert.deepEqual(w.bob.of("room").map((e) => [e.event, e.room.name, e.by]), [
    ["parted", "#old", undefined],
    ["topic", "#ops", w.alice.id],
  ]);
  assert.equal(w.bob.of("room")[1].room.topic, "deploys only");
  assert.deepEqual(w.bob.of("presence").map((e) => [e.room, e.left?.id, e.online]), [
    ["#ops", w.dave.id, 1],
  ]);
  assert.equal(w.n2.refused(w.bob, { type: "send", text: "x", room: "#old" }).code, "not_found");
  // a listing on n2 is n1's
  const listed = (n: typeof w.n1, peer: typeof w.bob) =>
    (n.ask(peer, { type: "rooms" }) as Frame<"rooms">).total;
  assert.equal(listed(w.n2, w.bob), 3, "#general, #ops (his, invite-only), #new");

  // another reconnect with nothing lost: nobody is told anything again
  for (const p of [w.bob, w.dave]) p.clear();
  w.away();
  w.back();
  assert.equal(w.n2.hub.resync?.done, 2);
  assert.deepEqual([...w.bob.frames, ...w.dave.frames], []);
});

Deno.test("cluster resync: what a node heard before the bus went is not told again; only what it lost", () => {
  const w = twoNodes();
  w.n1.roomOf(w.alice, { type: "topic", room: "#ops", topic: "heard" });
  w.network.pump();
  assert.equal(w.bob.of("room").length, 1);
  w.away();
  w.n1.roomOf(w.alice, { type: "topic", room: "#old", topic: "lost" });
  w.network.pump();
  w.back();
  assert.deepEqual(w.bob.of("room").map((e) => [e.room.name, e.room.topic]), [
    ["#ops", "heard"],
    ["#old", "lost"],
  ]);
  assert.deepEqual(w.dave.of("room").map((e) => e.room.topic), ["heard"], "dave: not in #old");
});

Deno.test("cluster resync: a mute set while the bus was away holds on the node that kept its user unmuted", () => {
  const w = twoNodes();
  w.n2.say(w.bob, { type: "send", ref: "s1", text: "before", room: "#ops" });
  assert.equal(w.bob.of("ack").length, 1, "n2 now keeps that bob is not muted in #ops");
  w.away();
  w.n1.ask(w.alice, { type: "mute", room: "#ops", user: w.bob.id });
  w.network.pump();
  w.n2.say(w.bob, { type: "send", ref: "s2", text: "lost mute", room: "#ops" });
  assert.equal(w.bob.of("ack").length, 2, "the gap: n2 did not hear of the mute");
  w.back();
  assert.match(
    w.n2.refused(w.bob, { type: "send", text: "after", room: "#ops" }).message,
    /you are muted in #ops/,
  );
});

Deno.test("cluster resync: a server ban made while the bus was away cuts the connections it covers, by id and by address", () => {
  const w = twoNodes();
  const carol = w.n2.join("carol", {}, "10.0.0.7");
  const erin = w.n2.join("erin", {}, "10.0.0.8");
  w.network.pump();
  w.away();
  w.n1.ask(w.alice, { type: "ban", user: w.bob.id, reason: "spam" });
  w.n1.ask(w.alice, { type: "ban", address: "10.0.0.7" });
  w.network.pump();
  assert.equal(cutWhy(w.bob), undefined, "the gap: n2 did not hear of the ban");
  w.back();
  assert.equal(cutWhy(w.bob), "banned");
  assert.match(w.bob.closed!.message, /you are banned from this server by alice_\d+: spam/);
  assert.deepEqual([carol, erin, w.dave].map(cutWhy), ["banned", undefined, undefined]);
});

Deno.test("cluster resync: a flapping bus costs one resync per tick that hears of reconnects, not one per reconnect", () => {
  const w = twoNodes();
  for (let i = 0; i < 5; i++) {
    w.n2.bus.down = true;
    w.n2.bus.down = false;
  }
  w.n2.hub.tick();
  assert.equal(w.n2.hub.resync?.done, 1);
  w.n2.hub.tick();
  assert.equal(w.n2.hub.resync?.done, 1, "nothing new: no resync");
  assert.equal(w.n1.hub.resync?.done, 0, "n1's bus never went");
});

Deno.test("cluster resync: the per-user reads go in slices, the event loop free between them; asks while one runs make one more after it, not several", () => {
  const w = twoNodes();
  const carol = w.n2.join("carol");
  const later: (() => void)[] = [];
  let t = 0;
  const resync = new Resync({
    store: w.shared.store,
    rooms: w.n2.hub.rooms,
    moderation: w.n2.hub.moderation,
    later: (fn) => later.push(fn),
    // each read takes a slice's time: one user per slice
    clock: () => t += RESYNC_SLICE_MS,
  });
  w.away();
  w.n1.ask(w.alice, { type: "kick", room: "#ops", user: w.dave.id });
  w.network.pump();
  resync.request();
  assert.equal(resync.running, true, "the first slice done, the rest to come");
  assert.equal(later.length, 1);
  for (let i = 0; i < 3; i++) resync.request();
  let turns = 0;
  while (later.length > 0) {
    later.shift()!();
    turns++;
  }
  assert.equal(resync.running, false);
  assert.equal(resync.done, 2, "the one running, and one more for the asks meanwhile");
  assert.equal(resync.last?.users, 3, "bob, dave, carol");
  assert.equal(resync.last?.slices, 3);
  assert.equal(turns, 4, "two slices after each first one");
  assert.equal(w.n2.hub.rooms.isIn(w.dave.id, "#ops"), false);
  assert.deepEqual(w.dave.of("room").map((e) => e.event), ["parted"], "told once, not per run");
  assert.equal(carol.closed, undefined);
});
