// Rooms and moderation across the nodes of a cluster (the `event` subject, cluster/wire.ts):
// nodes in one process on one store and a bus in memory that the test pumps
// (tests/cluster_fixtures.ts). Each test fails on per-process rooms and moderation.
//
// Run: deno test -A --lock=deno.dev.lock tests/cluster_rooms_test.ts

import assert from "node:assert/strict";
import { MAX_FRAME_BYTES } from "../src/protocol/codec.ts";
import type { ServerFrame } from "../src/protocol/schema.ts";
import { subjects } from "../src/server/cluster/bus.ts";
import { encode } from "../src/server/cluster/wire.ts";
import { T0 } from "./fixtures.ts";
import { cluster } from "./cluster_fixtures.ts";

type Frame<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;
const EVENT = subjects("chat.v1").event;

/** Three nodes; alice on n1 made #ops, carol on n3 is in it; bob on n2 is not (all cleared). */
function opsRoom() {
  const c = cluster(3);
  const [n1, n2, n3] = c.nodes;
  const alice = n1.join("alice", {}, "10.0.0.1");
  const bob = n2.join("bob", {}, "10.0.0.2");
  const carol = n3.join("carol", {}, "10.0.0.3");
  c.network.pump();
  n1.roomOf(alice, { type: "join", room: "#ops" });
  c.network.pump();
  n3.roomOf(carol, { type: "join", room: "#ops" });
  c.network.pump();
  for (const p of [alice, bob, carol]) p.clear();
  return { ...c, n1, n2, n3, alice, bob, carol };
}

/** opsRoom with bob (n2) in #ops too. */
function opsWithBob() {
  const w = opsRoom();
  w.n2.roomOf(w.bob, { type: "join", room: "#ops" });
  w.network.pump();
  for (const p of [w.alice, w.bob, w.carol]) p.clear();
  return w;
}

/** Why a connection was closed, if it was. */
const cutWhy = (peer: { closed?: { reason: string } }) => peer.closed?.reason;

const members = (w: ReturnType<typeof opsRoom>, room = "#ops") =>
  [w.n1, w.n2, w.n3].map((n) => n.hub.rooms.info(room)?.members);

Deno.test("cluster rooms: a room made on one node is listed on another, joined there (not made again), and its members everywhere hear the join", () => {
  const w = opsRoom();
  const listed = w.n2.ask(w.bob, { type: "rooms" }) as Frame<"rooms">;
  const ops = listed.rooms.find((r) => r.name === "#ops");
  assert.ok(ops, "n2 knows #ops");
  assert.equal(ops.members, 2);
  const joined = w.n2.roomOf(w.bob, { type: "join", room: "#ops" });
  assert.equal(joined.event, "joined");
  assert.equal(joined.room.members, 3);
  assert.equal(w.shared.store.roomCreator("#ops"), w.alice.id, "a join, not a second making");
  assert.ok(!w.shared.store.isOperator(w.bob.id, "#ops"));
  w.network.pump();
  for (const [peer, online] of [[w.alice, 1], [w.carol, 1]] as const) {
    const told = peer.of("presence").filter((p) => p.room === "#ops");
    assert.deepEqual(told.map((p) => p.joined?.id), [w.bob.id], peer.label);
    // the online count in a room's frames is the members online on the hearer's node
    assert.equal(told[0].online, online);
  }
  assert.deepEqual(members(w), [3, 3, 3]);
  // a part: heard everywhere, counted everywhere
  w.n3.roomOf(w.carol, { type: "part", room: "#ops" });
  w.network.pump();
  assert.deepEqual(w.bob.of("presence").map((p) => p.left?.id), [w.carol.id]);
  assert.deepEqual(w.alice.of("presence").filter((p) => p.left).map((p) => p.left!.id), [
    w.carol.id,
  ]);
  assert.deepEqual(members(w), [2, 2, 2]);
});

Deno.test("cluster rooms: a join racing with the room's making on another node (not heard of yet) is a plain join; an invite-only one stays closed", () => {
  const { network, nodes: [n1, n2] } = cluster(2);
  const alice = n1.join("alice");
  const bob = n2.join("bob");
  network.pump();
  n1.roomOf(alice, { type: "join", room: "#ops" });
  n1.roomOf(alice, { type: "join", room: "#secret", private: true });
  // nothing pumped: n2 has not heard of either
  assert.equal(n2.hub.rooms.exists("#ops"), false);
  const joined = n2.roomOf(bob, { type: "join", room: "#ops" });
  assert.equal(joined.event, "joined");
  assert.equal(joined.room.members, 2);
  assert.equal(n2.store.roomCreator("#ops"), alice.id);
  assert.ok(!n2.store.isOperator(bob.id, "#ops"), "not made by bob: not his to run");
  const closed = n2.refused(bob, { type: "join", room: "#secret" });
  assert.equal(closed.code, "forbidden");
  assert.match(closed.message, /the name #secret is taken/);
  assert.ok(!n2.store.isMember(bob.id, "#secret"));
  network.pump();
  assert.equal(n1.hub.rooms.info("#ops")?.members, 2);
  assert.equal(n2.hub.rooms.info("#ops")?.members, 2);
  assert.equal(n2.hub.rooms.info("#secret")?.private, true);
  const listed = n2.ask(bob, { type: "rooms" }) as Frame<"rooms">;
  assert.deepEqual(listed.rooms.map((r) => r.name).sort(), ["#general", "#ops"]);
});

Deno.test("cluster rooms: a topic set on one node is told to the members on the others and listed there; invite-only is too", () => {
  const w = opsWithBob();
  const set = w.n2.roomOf(w.bob, { type: "topic", room: "#ops", topic: "deploys only" });
  assert.equal(set.room.topic, "deploys only");
  w.network.pump();
  for (const peer of [w.alice, w.carol]) {
    const told = peer.of("room");
    assert.deepEqual(told.map((e) => [e.event, e.by, e.room.topic]), [
      ["topic", w.bob.id, "deploys only"],
    ]);
    assert.equal(told[0].room.online, 1, "this node's members online");
  }
  assert.deepEqual(w.bob.of("room").length, 1, "bob: his answer, once");
  const listed = w.n1.ask(w.alice, { type: "rooms" }) as Frame<"rooms">;
  const ops = listed.rooms.find((r) => r.name === "#ops")!;
  assert.deepEqual([ops.topic, ops.topicBy, ops.topicAt], ["deploys only", w.bob.id, T0]);

  // alice makes it invite-only on n1: dave on n3 (not in it) no longer sees it listed
  const dave = w.n3.join("dave");
  w.network.pump();
  w.n1.roomOf(w.alice, { type: "private", room: "#ops", private: true });
  w.network.pump();
  assert.deepEqual(w.bob.of("room").at(-1)?.event, "private");
  const seen = w.n3.ask(dave, { type: "rooms" }) as Frame<"rooms">;
  assert.deepEqual(seen.rooms.map((r) => r.name), ["#general"]);
  assert.equal(seen.total, 1);
  assert.equal(w.n3.refused(dave, { type: "join", room: "#ops" }).code, "forbidden");
});

Deno.test("cluster rooms: a new id made on one node counts in #general on every node", () => {
  const { network, nodes: [n1, n2] } = cluster(2);
  n1.join("alice");
  network.pump();
  n2.join("bob");
  network.pump();
  assert.equal(n1.hub.rooms.info("#general")?.members, 2);
  assert.equal(n2.hub.rooms.info("#general")?.members, 2);
});

Deno.test("cluster moderation: a kick on one node of someone on another takes them out there; they, and the members everywhere, are told", () => {
  const w = opsWithBob();
  const kicked = w.n1.ask(w.alice, { type: "kick", room: "#ops", user: w.bob.id, reason: "spam" });
  assert.equal(kicked.type, "moderation");
  w.network.pump();
  assert.equal(w.n2.hub.rooms.isIn(w.bob.id, "#ops"), false);
  assert.deepEqual(w.bob.of("moderation").map((e) => [e.action, e.user, e.reason]), [
    ["kicked", w.bob.id, "spam"],
  ]);
  const heard = w.carol.of("moderation");
  assert.deepEqual(heard.map((e) => [e.action, e.user]), [["kicked", w.bob.id]]);
  assert.deepEqual([heard[0].members, heard[0].online], [2, 1], "counts: n3's online");
  assert.deepEqual(members(w), [2, 2, 2]);
  assert.equal(w.n2.refused(w.bob, { type: "send", text: "hi", room: "#ops" }).code, "not_found");
  // a kick is not a ban: he may join again, on his node
  w.n2.roomOf(w.bob, { type: "join", room: "#ops" });
});

Deno.test("cluster moderation: a room ban on one node of someone on another takes them out there and keeps them out", () => {
  const w = opsWithBob();
  w.n1.ask(w.alice, { type: "ban", room: "#ops", user: w.bob.id });
  w.network.pump();
  assert.deepEqual(w.bob.of("moderation").map((e) => e.action), ["banned"]);
  assert.deepEqual(w.carol.of("moderation").map((e) => e.action), ["banned"]);
  assert.equal(w.n2.refused(w.bob, { type: "send", text: "hi", room: "#ops" }).code, "not_found");
  assert.equal(w.n2.refused(w.bob, { type: "join", room: "#ops" }).code, "forbidden");
  assert.deepEqual(members(w), [2, 2, 2]);
});

Deno.test("cluster moderation: a mute on one node stops a send on another (whose memory had none), and an unmute lets it through again", () => {
  const w = opsWithBob();
  w.n2.say(w.bob, { type: "send", ref: "s1", text: "before", room: "#ops" });
  assert.equal(w.bob.of("ack").length, 1, "sent: n2 now keeps that bob is not muted");
  w.n1.ask(w.alice, { type: "mute", room: "#ops", user: w.bob.id, reason: "calm down" });
  w.network.pump();
  assert.deepEqual(w.bob.of("moderation").map((e) => e.action), ["muted"], "told once");
  assert.match(
    w.n2.refused(w.bob, { type: "send", text: "after", room: "#ops" }).message,
    /you are muted in #ops/,
  );
  w.n1.ask(w.alice, { type: "unmute", room: "#ops", user: w.bob.id });
  w.network.pump();
  w.n2.say(w.bob, { type: "send", ref: "s2", text: "again", room: "#ops" });
  assert.equal(w.bob.of("ack").length, 2);
  // and on the whole server (a server operator on n1)
  w.shared.store.addServerOperator(w.alice.id, T0);
  w.n1.ask(w.alice, { type: "mute", user: w.bob.id });
  w.network.pump();
  assert.match(
    w.n2.refused(w.bob, { type: "send", text: "dm", to: [w.carol.id] }).message,
    /you are muted on this server/,
  );
});

Deno.test("cluster moderation: a server ban on one node cuts the connections it covers on the others, by id and by address", () => {
  const w = opsWithBob();
  const dave = w.n3.join("dave", {}, "10.0.0.2"); // bob's address
  const erin = w.n3.join("erin", {}, "10.0.0.5");
  w.network.pump();
  w.shared.store.addServerOperator(w.alice.id, T0);
  w.n1.ask(w.alice, { type: "ban", user: w.bob.id, reason: "spam" });
  w.network.pump();
  assert.equal(w.bob.of("moderation")[0]?.action, "banned", "told before the cut");
  assert.equal(w.bob.closed?.reason, "banned");
  assert.match(w.bob.closed!.message, /you are banned from this server by alice_\d+: spam/);
  assert.equal(cutWhy(dave), undefined, "an id ban cuts that id only");
  w.n1.ask(w.alice, { type: "ban", address: "10.0.0.2" });
  w.network.pump();
  assert.equal(cutWhy(dave), "banned");
  assert.equal(cutWhy(erin), undefined);
});

Deno.test("cluster moderation: a room removed on one node is gone on the others, its members there told; its name is free again everywhere", () => {
  const w = opsWithBob();
  w.shared.store.addServerOperator(w.alice.id, T0);
  w.n2.say(w.bob, { type: "send", ref: "s1", text: "in ops", room: "#ops" });
  w.network.pump();
  w.n1.ask(w.alice, { type: "droproom", room: "#ops", reason: "spam" });
  w.network.pump();
  for (const peer of [w.bob, w.carol]) {
    assert.deepEqual(peer.of("moderation").map((e) => [e.action, e.room]), [["dropped", "#ops"]]);
  }
  for (const n of [w.n1, w.n2, w.n3]) {
    assert.equal(n.hub.rooms.exists("#ops"), false);
    assert.equal(n.hub.rooms.size, 1, "its messages are gone: so is it");
  }
  assert.equal(w.n2.refused(w.bob, { type: "send", text: "x", room: "#ops" }).code, "not_found");
  // made anew on n2 by bob, known on n1
  const made = w.n2.roomOf(w.bob, { type: "join", room: "#ops" });
  assert.equal(made.room.members, 1);
  assert.equal(w.shared.store.roomCreator("#ops"), w.bob.id);
  w.network.pump();
  assert.deepEqual(members(w), [1, 1, 1]);
});

Deno.test("cluster moderation: the mutes a node keeps of a removed room go with it there too", () => {
  const w = opsWithBob();
  w.shared.store.addServerOperator(w.alice.id, T0);
  w.n1.ask(w.alice, { type: "mute", room: "#ops", user: w.bob.id });
  w.network.pump();
  w.n2.refused(w.bob, { type: "send", text: "muted", room: "#ops" }); // n2 keeps the mute
  w.n1.ask(w.alice, { type: "droproom", room: "#ops" });
  w.network.pump();
  w.n2.roomOf(w.bob, { type: "join", room: "#ops" });
  w.n2.say(w.bob, { type: "send", ref: "s", text: "a new room", room: "#ops" });
  assert.equal(w.bob.of("ack").length, 1, JSON.stringify(w.bob.frames));
});

Deno.test("cluster rooms: an invitation on one node reaches the invitee on another, who may join there", () => {
  const { network, nodes: [n1, n2] } = cluster(2);
  const alice = n1.join("alice");
  const bob = n2.join("bob");
  network.pump();
  n1.roomOf(alice, { type: "join", room: "#secret", private: true });
  network.pump();
  bob.clear();
  n1.roomOf(alice, { type: "invite", room: "#secret", user: "bob" });
  network.pump();
  const invited = bob.of("room");
  assert.deepEqual(invited.map((e) => [e.event, e.room.name, e.by, e.user]), [
    ["invited", "#secret", alice.id, bob.id],
  ]);
  assert.equal(invited[0].room.online, 0, "n2's members online");
  const joined = n2.roomOf(bob, { type: "join", room: "#secret" });
  assert.equal(joined.room.members, 2);
});

Deno.test("cluster moderation: an operator made on one node is told to the members on the others", () => {
  const w = opsWithBob();
  w.n1.ask(w.alice, { type: "op", room: "#ops", user: w.bob.id });
  w.network.pump();
  assert.deepEqual(w.bob.of("moderation").map((e) => [e.action, e.user]), [["opped", w.bob.id]]);
  assert.deepEqual(w.carol.of("moderation").map((e) => e.action), ["opped"]);
  // and bob, an operator now, kicks carol (on n3) from n2
  w.n2.ask(w.bob, { type: "kick", room: "#ops", user: w.carol.id });
  w.network.pump();
  assert.equal(w.n3.hub.rooms.isIn(w.carol.id, "#ops"), false);
  assert.deepEqual(w.alice.of("moderation").map((e) => e.action), ["opped", "kicked"]);
});

Deno.test("cluster: an event that does not parse, or is too large, is dropped and counted; nothing else happens", () => {
  const w = opsWithBob();
  const before = w.n2.hub.cluster!.dropped;
  const bus = w.n1.bus;
  bus.publish(EVENT, new TextEncoder().encode("not json"));
  bus.publish(EVENT, encode({ node: "x", event: { kind: "serverBan", user: "nobody" } }));
  bus.publish(EVENT, encode({ node: "x", event: { kind: "gone", room: "no hash" } }));
  const frame = { type: "presence", room: "#ops", online: 1, joined: { id: w.bob.id, name: "b" } };
  const huge = { ...frame, joined: { ...frame.joined, name: "x".repeat(MAX_FRAME_BYTES) } };
  bus.publish(
    EVENT,
    encode({ node: "x", event: { kind: "toRoom", room: "#ops", frame: huge } }),
  );
  w.network.pump();
  assert.equal(w.n2.hub.cluster!.dropped - before, 4);
  assert.deepEqual(w.bob.frames, []);
  assert.equal(w.bob.closed, undefined);
  // one that parses is applied
  bus.publish(EVENT, encode({ node: "x", event: { kind: "toRoom", room: "#ops", frame } }));
  w.network.pump();
  assert.equal(w.alice.of("presence").length, 1);
});

Deno.test("cluster rooms: news of a room that crossed its removal on the bus does not bring it back; its making anew does", () => {
  const w = opsWithBob();
  w.shared.store.addServerOperator(w.alice.id, T0);
  const state = { name: "#ops", topic: "", private: false, members: 3 };
  const late = { kind: "room", state, change: 1 };
  // the removal's commit waits on n1, so #ops is being removed (its name taken) for a while
  const messages = w.n1.hub.messages as unknown as { dropRoom(room: string): void };
  const deferred: (() => void)[] = [];
  const dropRoom = messages.dropRoom.bind(w.n1.hub.messages);
  messages.dropRoom = (room) => void deferred.push(() => dropRoom(room));
  w.n1.ask(w.alice, { type: "droproom", room: "#ops" });
  w.network.pump();
  w.n3.bus.publish(EVENT, encode({ node: "late", event: late }));
  w.network.pump();
  assert.equal(w.n2.hub.rooms.exists("#ops"), false);
  assert.equal(w.n2.refused(w.bob, { type: "join", room: "#ops" }).code, "unavailable");
  deferred.shift()!();
  w.network.pump();
  w.n3.roomOf(w.carol, { type: "join", room: "#ops" });
  w.network.pump();
  assert.equal(w.n2.hub.rooms.info("#ops")?.members, 1);
});
