// Unit tests for moderation (src/server/moderation.ts) through the hub, on an injected clock:
// server operators read from the store on every use (as `chat admin` writes them), room
// operators (the creator and whoever they op; never deop the creator), kick, ban and unban (a
// room, the server by id and by address), mute and unmute, an operator's delete, the lists, and
// what each one tells whom. A non-operator is refused every command with `forbidden` and nothing
// changes. Each bound is sent the thing it refuses: restrictions per scope, operators per room,
// bans and log entries per frame, the rate limit; timed bans and mutes end by the clock.
//
// Run: deno test -A --lock=deno.dev.lock tests/moderation_test.ts

import assert from "node:assert/strict";
import {
  ClientFrame,
  GENERAL_ROOM,
  MAX_MODERATION_SECONDS,
  MAX_REASON_LENGTH,
  MIN_MODERATION_SECONDS,
} from "../src/protocol/schema.ts";
import {
  BANS_LIST_LIMIT,
  MAX_OPERATORS_PER_ROOM,
  MAX_RESTRICTIONS_PER_SCOPE,
  MODERATION_BURST,
  MODLOG_LIST_LIMIT,
} from "../src/server/limits.ts";
import { PRESENCE_INTERVAL_MS, PRESENCE_NAMES_LIMIT } from "../src/server/hub.ts";
import { notInRoom } from "../src/server/rooms.ts";
import { FakePeer, type Frame, HOUR, T0, testLog, world } from "./fixtures.ts";

/** A world where alice made #ops and bob and carol are in it (frames cleared). */
function opsRoom(options: Parameters<typeof world>[0] = {}) {
  const w = world(options);
  const alice = w.join("alice", {}, "10.0.0.1");
  const bob = w.join("bob", {}, "10.0.0.2");
  const carol = w.join("carol", {}, "10.0.0.3");
  for (const peer of [alice, bob, carol]) w.roomOf(peer, { type: "join", room: "#ops" });
  for (const peer of [alice, bob, carol]) peer.clear();
  /** Asks, expecting a moderation event back. */
  const act = (peer: FakePeer, frame: Record<string, unknown>) => {
    const answer = w.ask(peer, frame);
    assert.equal(answer.type, "moderation", JSON.stringify(answer));
    return answer as Frame<"moderation">;
  };
  return { ...w, alice, bob, carol, act };
}

Deno.test("moderation: a kick is one line to the room's members, the target and the operator; the target is out and may come back", () => {
  const w = opsRoom();
  const dave = w.join("dave");
  const kicked = w.act(w.alice, { type: "kick", room: "#ops", user: w.bob.id, reason: "spam" });
  assert.deepEqual(kicked, {
    type: "moderation",
    ref: kicked.ref,
    action: "kicked",
    room: "#ops",
    user: w.bob.id,
    by: w.alice.id,
    reason: "spam",
    // the room's counts after it (alice and carol), so that its members' counts change with it
    members: 2,
    online: 2,
  });
  for (const peer of [w.bob, w.carol]) {
    assert.deepEqual(peer.of("moderation").map((e) => [e.action, e.user, e.ref]), [
      ["kicked", w.bob.id, undefined],
    ]);
  }
  assert.deepEqual(dave.of("moderation"), [], "not in the room: not told");
  assert.ok(!w.store.isMember(w.bob.id, "#ops"));
  assert.ok(!w.hub.rooms.isIn(w.bob.id, "#ops"));
  assert.equal(w.hub.rooms.info("#ops")?.members, 2);
  // no longer in it: what they send there is refused, and they hear nothing of it
  w.carol.clear();
  assert.equal(w.refused(w.bob, { type: "send", text: "hi", room: "#ops" }).code, "not_found");
  // a kick is not a ban: they may join again
  w.roomOf(w.bob, { type: "join", room: "#ops" });
  assert.ok(w.store.isMember(w.bob.id, "#ops"));
  // kicking someone not in the room, or an unknown id: said, nothing done
  assert.equal(w.refused(w.alice, { type: "kick", room: "#ops", user: dave.id }).code, "not_found");
  assert.equal(
    w.refused(w.alice, { type: "kick", room: "#ops", user: "nobody_1234" }).code,
    "unknown_recipient",
  );
  assert.equal(w.store.modlog(undefined, undefined, 10).length, 1);
});

Deno.test("moderation: put out of a room, its counts after it go with the one line to everyone told; a ban of one not in it carries none", () => {
  const w = opsRoom();
  w.join("dave"); // online, in no room of theirs here
  const banned = w.act(w.alice, { type: "ban", room: "#ops", user: w.carol.id });
  for (const frame of [banned, w.bob.of("moderation")[0], w.carol.of("moderation")[0]]) {
    assert.deepEqual([frame?.action, frame?.members, frame?.online], ["banned", 2, 2]);
  }
  // one line, no presence besides it
  assert.deepEqual(w.bob.of("presence").filter((p) => p.room), []);
  assert.deepEqual(w.hub.rooms.info("#ops")?.online, 2);
  // bob offline: a member still, not online
  w.hub.disconnect(w.bob);
  const kicked = w.act(w.alice, { type: "kick", room: "#ops", user: w.bob.id });
  assert.deepEqual([kicked.members, kicked.online], [1, 1]);
  // not in the room: nothing changes, no counts
  const notIn = w.act(w.alice, { type: "ban", room: "#ops", user: w.bob.id });
  assert.deepEqual([notIn.members, notIn.online], [undefined, undefined]);
  // nor with anything else
  assert.equal(w.act(w.alice, { type: "unban", room: "#ops", user: w.bob.id }).online, undefined);
});

Deno.test("moderation: put out of a room past PRESENCE_NAMES_LIMIT online, the line carries no counts: the count comes at the next tick, as a part's does", () => {
  const w = world();
  const owner = w.join("owner");
  w.roomOf(owner, { type: "join", room: "#big" });
  const peers = Array.from({ length: PRESENCE_NAMES_LIMIT + 1 }, (_, i) => w.join(`u${i}`));
  for (const peer of peers) {
    w.roomOf(peer, { type: "join", room: "#big" });
    w.clock.t += 60_000;
  }
  w.clock.t += PRESENCE_INTERVAL_MS;
  w.hub.tick();
  for (const peer of [owner, ...peers]) peer.clear();
  const kicked = w.ask(owner, { type: "kick", room: "#big", user: peers[0].id });
  assert.equal(kicked.type, "moderation");
  const told = peers[1].of("moderation");
  assert.deepEqual(told.map((e) => [e.action, e.members, e.online]), [
    ["kicked", undefined, undefined],
  ]);
  assert.deepEqual(peers[1].of("presence").filter((p) => p.room), [], "no names, not yet");
  w.clock.t += PRESENCE_INTERVAL_MS;
  w.hub.tick();
  assert.deepEqual(peers[1].of("presence").filter((p) => p.room), [{
    type: "presence",
    room: "#big",
    online: PRESENCE_NAMES_LIMIT + 1,
  }]);
  assert.deepEqual(peers[0].of("presence").filter((p) => p.room), [], "the one put out: none");
});

Deno.test("moderation: a non-operator is refused every command with forbidden, and nothing changes", () => {
  const w = opsRoom();
  const before = () => ({
    members: w.store.roomsOf(w.carol.id),
    ops: w.store.roomOperators("#ops"),
    bans: w.store.restrictions("", T0, 0, 10).total + w.store.restrictions("#ops", T0, 0, 10).total,
    log: w.store.modlog(undefined, undefined, 10).length,
  });
  const was = before();
  const requests = [
    { type: "op", room: "#ops", user: w.carol.id },
    { type: "deop", room: "#ops", user: w.alice.id },
    { type: "kick", room: "#ops", user: w.carol.id },
    { type: "ban", room: "#ops", user: w.carol.id },
    { type: "ban", user: w.carol.id },
    { type: "ban", address: "10.0.0.3" },
    { type: "unban", room: "#ops", user: w.carol.id },
    { type: "unban", user: w.carol.id },
    { type: "mute", room: "#ops", user: w.carol.id },
    { type: "mute", user: w.carol.id },
    { type: "unmute", room: "#ops", user: w.carol.id },
    { type: "unmute", user: w.carol.id },
    { type: "bans", room: "#ops" },
    { type: "bans" },
    { type: "modlog", room: "#ops" },
    { type: "modlog" },
  ];
  for (const frame of requests) {
    const error = w.refused(w.bob, frame);
    assert.equal(error.code, "forbidden", JSON.stringify(frame));
    assert.match(error.message, /^only (an operator of #ops|a server operator) may /);
  }
  // deleting someone else's message without being an operator of its room
  const [posted] =
    (w.ask(w.carol, { type: "send", text: "mine", room: "#ops" }), w.carol.of("message"));
  assert.equal(w.refused(w.bob, { type: "delete", id: posted.id }).code, "forbidden");
  assert.deepEqual(before(), was);
  assert.deepEqual(w.carol.of("moderation"), []);
  // a room one is not in is the words for any room one is not in, not forbidden
  const outsider = w.join("eve");
  for (const type of ["kick", "op", "mute"]) {
    const error = w.refused(outsider, { type, room: "#ops", user: w.carol.id });
    assert.deepEqual([error.code, error.message], ["not_found", notInRoom("#ops")]);
  }
});

Deno.test("moderation: server operators are read from the store on every use; they act in every room, and are out of reach", () => {
  const w = opsRoom();
  const sam = w.join("sam");
  assert.equal(w.refused(sam, { type: "kick", room: "#ops", user: w.bob.id }).code, "not_found");
  // granted meanwhile (chat admin writes the store): no restart, no reconnect
  w.store.addServerOperator(sam.id, T0);
  const ops = w.ask(sam, { type: "ops" }) as Frame<"ops">;
  assert.deepEqual(ops.server, [sam.id]);
  w.act(sam, { type: "kick", room: "#ops", user: w.bob.id, reason: "by the server" });
  assert.equal(
    w.refused(sam, { type: "kick", room: "#nowhere", user: w.bob.id }).message,
    "there is no room #nowhere",
  );
  // not even a room's creator may touch a server operator; nobody may touch themselves
  w.roomOf(sam, { type: "join", room: "#ops" });
  const shielded = w.refused(w.alice, { type: "kick", room: "#ops", user: sam.id });
  assert.deepEqual([shielded.code, shielded.message], [
    "forbidden",
    `${sam.id} is a server operator`,
  ]);
  assert.equal(
    w.refused(w.alice, { type: "kick", room: "#ops", user: w.alice.id }).code,
    "forbidden",
  );
  // the creator is out of reach of the room's other operators, not of a server operator
  w.act(w.alice, { type: "op", room: "#ops", user: w.carol.id });
  assert.match(
    w.refused(w.carol, { type: "kick", room: "#ops", user: w.alice.id }).message,
    /made #ops/,
  );
  w.act(sam, { type: "mute", room: "#ops", user: w.alice.id });
  // revoked: the next request is refused
  w.store.removeServerOperator(sam.id);
  assert.equal(w.refused(sam, { type: "bans" }).code, "forbidden");
});

Deno.test("moderation: op and deop; /ops lists the server's and the room's (its creator among them); the creator stays", () => {
  const w = opsRoom();
  const opped = w.act(w.alice, { type: "op", room: "#ops", user: w.bob.id });
  assert.deepEqual([opped.action, opped.user, opped.room], ["opped", w.bob.id, "#ops"]);
  assert.equal(w.carol.of("moderation")[0]?.action, "opped");
  // bob may act now, and op others
  w.act(w.bob, { type: "op", room: "#ops", user: w.carol.id });
  const ops = w.ask(w.carol, { type: "ops", room: "#ops" }) as Frame<"ops">;
  assert.deepEqual([ops.creator, [...ops.operators!].sort()], [
    w.alice.id,
    [w.alice.id, w.bob.id, w.carol.id].sort(),
  ]);
  const never = w.refused(w.bob, { type: "deop", room: "#ops", user: w.alice.id });
  assert.deepEqual([never.code, never.message], [
    "forbidden",
    `${w.alice.id} made #ops and stays its operator`,
  ]);
  w.act(w.alice, { type: "deop", room: "#ops", user: w.carol.id });
  assert.ok(!w.store.isOperator(w.carol.id, "#ops"));
  assert.equal(
    w.refused(w.alice, { type: "deop", room: "#ops", user: w.carol.id }).code,
    "not_found",
  );
  // only members may be made operators; a room one is not in is not listed
  const eve = w.join("eve");
  assert.equal(w.refused(w.alice, { type: "op", room: "#ops", user: eve.id }).code, "not_found");
  assert.equal(w.refused(eve, { type: "ops", room: "#ops" }).message, notInRoom("#ops"));
});

Deno.test("moderation: a room has at most MAX_OPERATORS_PER_ROOM operators; one more is error full", () => {
  const w = opsRoom();
  for (let i = 0; w.store.roomOperators("#ops").length < MAX_OPERATORS_PER_ROOM; i++) {
    const member = w.join(`m${i}`);
    w.roomOf(member, { type: "join", room: "#ops" });
    w.store.addRoomOperator("#ops", member.id, MAX_OPERATORS_PER_ROOM);
  }
  const full = w.refused(w.alice, { type: "op", room: "#ops", user: w.bob.id });
  assert.equal(full.code, "full");
  assert.match(full.message, new RegExp(`${MAX_OPERATORS_PER_ROOM} operators`));
  assert.ok(!w.store.isOperator(w.bob.id, "#ops"));
});

Deno.test("moderation: a room ban takes them out, refuses join (an invitation too) until it ends or is lifted", () => {
  const w = opsRoom();
  const banned = w.act(w.alice, {
    type: "ban",
    room: "#ops",
    user: w.bob.id,
    duration: 60,
    reason: "flooding",
  });
  assert.equal(banned.until, T0 + 60_000);
  assert.equal(w.bob.of("moderation")[0]?.action, "banned");
  assert.ok(!w.store.isMember(w.bob.id, "#ops"));
  const refused = w.refused(w.bob, { type: "join", room: "#ops" });
  assert.equal(refused.code, "forbidden");
  assert.match(refused.message, /^you are banned from #ops until .*: flooding$/);
  // an invite-only room: an invitation does not lift the ban
  w.roomOf(w.alice, { type: "join", room: "#inner", private: true });
  w.roomOf(w.alice, { type: "invite", room: "#inner", user: w.carol.id });
  w.roomOf(w.carol, { type: "join", room: "#inner" });
  w.act(w.alice, { type: "ban", room: "#inner", user: w.carol.id });
  w.roomOf(w.alice, { type: "invite", room: "#inner", user: w.carol.id });
  assert.match(w.refused(w.carol, { type: "join", room: "#inner" }).message, /banned from #inner/);
  // it ends by the clock
  w.clock.t += 60_000;
  w.roomOf(w.bob, { type: "join", room: "#ops" });
  // lifted by hand
  w.act(w.alice, { type: "unban", room: "#inner", user: w.carol.id });
  w.roomOf(w.alice, { type: "invite", room: "#inner", user: w.carol.id });
  w.roomOf(w.carol, { type: "join", room: "#inner" });
  assert.equal(
    w.refused(w.alice, { type: "unban", room: "#inner", user: w.carol.id }).code,
    "not_found",
  );
});

Deno.test("moderation: a server ban cuts the user's connection and refuses their hello, by id and by address; server operators are exempt", () => {
  const { log, lines } = testLog();
  const w = opsRoom({ log });
  const sam = w.join("sam", {}, "10.0.0.9");
  w.store.addServerOperator(sam.id, T0);
  const banned = w.act(sam, { type: "ban", user: w.bob.id, reason: "spam" });
  assert.equal(banned.room, undefined);
  assert.equal(w.bob.of("moderation")[0]?.action, "banned");
  assert.equal(w.bob.closed?.reason, "banned");
  assert.match(w.bob.closed!.message, /you are banned from this server by sam_\d+: spam/);
  // the same id with its token on a new connection: refused before anything is rotated
  const again = new FakePeer("bob again", "10.0.0.20");
  w.say(again, { type: "hello", name: "bob", token: w.bob.token });
  assert.deepEqual(again.of("error").map((e) => e.code), ["banned"]);
  assert.equal(again.closed?.reason, "banned");
  assert.equal(w.refused(w.carol, { type: "kick", room: "#ops", user: sam.id }).code, "forbidden");
  // an address: who is online from it is cut (not the operator), newcomers from it refused
  const near = w.join("near", {}, "10.0.0.3");
  const samThere = new FakePeer("sam there", "10.0.0.3");
  w.store.removeServerOperator(sam.id); // sam is no operator for a moment: refused
  assert.equal(w.refused(sam, { type: "ban", address: "10.0.0.3" }).code, "forbidden");
  w.store.addServerOperator(sam.id, T0);
  w.act(sam, { type: "ban", address: "10.0.0.3", duration: 3600 });
  assert.equal(near.closed?.reason, "banned");
  assert.equal(w.carol.closed?.reason, "banned");
  const newcomer = new FakePeer("new", "10.0.0.3");
  w.say(newcomer, { type: "hello", name: "newcomer" });
  assert.deepEqual(newcomer.of("error").map((e) => e.code), ["banned"]);
  w.say(samThere, { type: "hello", name: "sam", token: sam.token });
  assert.equal(samThere.of("welcome").length, 1, "a server operator is never refused by address");
  // by id with the address they came from
  const dave = w.join("dave", {}, "10.0.0.4");
  const both = w.act(samThere, { type: "ban", user: dave.id, withAddress: true });
  assert.deepEqual([both.user, both.address], [dave.id, "10.0.0.4"]);
  // an hour later the address ban is over; bob's stays
  w.clock.t += HOUR;
  const later = new FakePeer("later", "10.0.0.3");
  w.say(later, { type: "hello", name: "later" });
  assert.equal(later.of("welcome").length, 1);
  const listed = w.ask(samThere, { type: "bans" }) as Frame<"bans">;
  assert.deepEqual(
    listed.bans.map((b) => b.user ?? b.address).sort(),
    [w.bob.id, dave.id, "10.0.0.4"].sort(),
  );
  w.act(samThere, { type: "unban", user: w.bob.id });
  const back = new FakePeer("bob back", "10.0.0.2");
  w.say(back, { type: "hello", name: "bob", token: w.bob.token });
  assert.equal(back.of("welcome").length, 1);
  // the log has every action, never a message's text; refused hellos are counted, not lined
  const moderation = lines.filter((l) => / moderation /.test(l));
  assert.equal(moderation.length, 4);
  assert.ok(moderation.some((l) => /action=banned by=sam_\d+ user=bob_\d+ reason=spam/.test(l)));
});

Deno.test("moderation: a mute refuses send where it holds (a room, or anywhere), across a reconnect, until it ends or is lifted", () => {
  const w = opsRoom();
  const muted = w.act(w.alice, { type: "mute", room: "#ops", user: w.bob.id, duration: 300 });
  assert.equal(muted.until, T0 + 300_000);
  const refusal = w.refused(w.bob, { type: "send", text: "hello", room: "#ops" });
  assert.equal(refusal.code, "forbidden");
  assert.match(refusal.message, /^you are muted in #ops until .*: you may read, not send$/);
  // elsewhere they may send; they still read #ops
  w.ask(w.bob, { type: "send", text: "in general" });
  w.ask(w.carol, { type: "send", text: "in ops", room: "#ops" });
  assert.ok(w.bob.of("message").some((m) => m.text === "in ops"));
  // a new connection of the same id is muted too
  w.hub.disconnect(w.bob);
  const bob = w.join("bob", { token: w.bob.token });
  assert.equal(w.refused(bob, { type: "send", text: "again", room: "#ops" }).code, "forbidden");
  w.clock.t += 300_000;
  w.ask(bob, { type: "send", text: "free", room: "#ops" });
  // server-wide (a server operator): every room, and direct messages
  w.store.addServerOperator(w.alice.id, T0);
  w.act(w.alice, { type: "mute", user: bob.id, reason: "cool down" });
  assert.match(w.refused(bob, { type: "send", text: "x" }).message, /muted on this server/);
  assert.equal(w.refused(bob, { type: "send", text: "x", to: [w.carol.id] }).code, "forbidden");
  w.act(w.alice, { type: "unmute", user: bob.id });
  w.ask(bob, { type: "send", text: "x", to: [w.carol.id] });
  assert.equal(w.refused(w.alice, { type: "unmute", user: bob.id }).code, "not_found");
});

Deno.test("moderation: an operator deletes anyone's message in their room; everyone who saw it hears by whom, and the log keeps it", () => {
  const w = opsRoom();
  w.ask(w.bob, { type: "send", text: "bad words", room: "#ops" });
  const [message] = w.bob.of("message");
  const ack = w.ask(w.alice, { type: "delete", id: message.id });
  assert.equal(ack.type, "ack");
  for (const peer of [w.bob, w.carol]) {
    assert.deepEqual(peer.of("deleted").map((d) => [d.id, d.by]), [[message.id, w.alice.id]]);
  }
  const [entry] = w.store.modlog("#ops", undefined, 1);
  assert.deepEqual([entry.action, entry.user, entry.message, entry.by], [
    "deleted",
    w.bob.id,
    message.id,
    w.alice.id,
  ]);
  // a direct message is nobody else's business
  w.ask(w.bob, { type: "send", text: "psst", to: [w.alice.id, w.carol.id] });
  const dm = w.carol.of("message").at(-1)!;
  assert.equal(w.refused(w.alice, { type: "delete", id: dm.id }).code, "forbidden");
});

Deno.test("moderation: /bans and /modlog page newest first, each within its limit and one frame", () => {
  const w = opsRoom();
  for (let i = 0; i < BANS_LIST_LIMIT + 5; i++) {
    w.store.restrict(
      {
        kind: "ban",
        scope: "#ops",
        target: `x${i}_1234`,
        onAddress: false,
        by: w.alice.id,
        time: T0 + i,
      },
      MAX_RESTRICTIONS_PER_SCOPE,
    );
    w.store.logModeration({
      time: T0 + i,
      action: "banned",
      by: w.alice.id,
      room: "#ops",
      user: `x${i}_1234`,
    }, 1_000);
  }
  const first = w.ask(w.alice, { type: "bans", room: "#ops" }) as Frame<"bans">;
  assert.deepEqual([first.total, first.bans.length, first.bans[0].user], [
    BANS_LIST_LIMIT + 5,
    BANS_LIST_LIMIT,
    `x${BANS_LIST_LIMIT + 4}_1234`,
  ]);
  const next = w.ask(w.alice, { type: "bans", room: "#ops", offset: BANS_LIST_LIMIT }) as Frame<
    "bans"
  >;
  assert.deepEqual(next.bans.map((b) => b.user), [
    "x4_1234",
    "x3_1234",
    "x2_1234",
    "x1_1234",
    "x0_1234",
  ]);
  const log = w.ask(w.alice, { type: "modlog", room: "#ops" }) as Frame<"modlog">;
  assert.deepEqual([log.entries.length, log.more], [MODLOG_LIST_LIMIT, true]);
  const older = w.ask(w.alice, {
    type: "modlog",
    room: "#ops",
    before: log.entries.at(-1)!.id,
  }) as Frame<"modlog">;
  assert.deepEqual([older.entries.length, older.more], [5, false]);
});

Deno.test("moderation: a scope keeps at most MAX_RESTRICTIONS_PER_SCOPE bans and mutes; one more is error full, a replacement is not", () => {
  const w = opsRoom();
  w.store.atomically(() => {
    for (let i = 0; i < MAX_RESTRICTIONS_PER_SCOPE; i++) {
      w.store.restrict(
        {
          kind: "mute",
          scope: "#ops",
          target: `x${i}_1234`,
          onAddress: false,
          by: "admin",
          time: T0,
        },
        MAX_RESTRICTIONS_PER_SCOPE,
      );
    }
  });
  const full = w.refused(w.alice, { type: "ban", room: "#ops", user: w.bob.id });
  assert.equal(full.code, "full");
  assert.ok(w.store.isMember(w.bob.id, "#ops"), "nothing was done");
  assert.equal(w.store.modlog(undefined, undefined, 5).length, 0);
  // replacing one in force works
  w.store.restrict(
    { kind: "mute", scope: "#ops", target: w.bob.id, onAddress: false, by: "admin", time: T0 },
    MAX_RESTRICTIONS_PER_SCOPE + 1,
  );
  w.act(w.alice, { type: "mute", room: "#ops", user: w.bob.id, duration: 5 });
});

Deno.test("moderation: requests spend their own rate limit, per user; over it, rate_limited and nothing done", () => {
  const w = opsRoom({ limits: true });
  for (let i = 0; i < MODERATION_BURST; i++) w.ask(w.alice, { type: "ops" });
  const refused = w.refused(w.alice, { type: "kick", room: "#ops", user: w.bob.id });
  assert.equal(refused.code, "rate_limited");
  assert.ok(w.store.isMember(w.bob.id, "#ops"));
  w.clock.t += 60_000;
  w.act(w.alice, { type: "kick", room: "#ops", user: w.bob.id });
});

Deno.test("moderation: ended bans and mutes are forgotten on the hub's tick", () => {
  const w = opsRoom();
  w.act(w.alice, { type: "ban", room: "#ops", user: w.bob.id, duration: 1 });
  w.act(w.alice, { type: "mute", room: "#ops", user: w.carol.id });
  w.clock.t += 120_000;
  w.hub.tick();
  const left = w.store.restrictions("#ops", 0, 0, 10);
  assert.deepEqual(left.restrictions.map((r) => [r.kind, r.target]), [["mute", w.carol.id]]);
  assert.ok(w.store.roomsOf(w.bob.id).includes(GENERAL_ROOM));
});

Deno.test("moderation: the frames' bounds: a reason of at most MAX_REASON_LENGTH, one line; a duration from MIN to MAX_MODERATION_SECONDS; one target", () => {
  const ok = (frame: Record<string, unknown>) => ClientFrame.safeParse(frame).success;
  const kick = { type: "kick", ref: "r", room: "#ops", user: "bob_0001" };
  assert.ok(ok({ ...kick, reason: "x".repeat(MAX_REASON_LENGTH) }));
  assert.ok(!ok({ ...kick, reason: "x".repeat(MAX_REASON_LENGTH + 1) }));
  assert.ok(!ok({ ...kick, reason: "two\nlines" }));
  assert.ok(!ok({ ...kick, reason: "" }));
  const mute = { type: "mute", ref: "r", user: "bob_0001" };
  assert.ok(ok({ ...mute, duration: MIN_MODERATION_SECONDS }));
  assert.ok(ok({ ...mute, duration: MAX_MODERATION_SECONDS }));
  assert.ok(!ok({ ...mute, duration: MIN_MODERATION_SECONDS - 1 }));
  assert.ok(!ok({ ...mute, duration: MAX_MODERATION_SECONDS + 1 }));
  assert.ok(!ok({ ...mute, duration: 1.5 }));
  const ban = { type: "ban", ref: "r" };
  assert.ok(!ok(ban), "names nobody");
  assert.ok(!ok({ ...ban, user: "bob_0001", address: "10.0.0.1" }), "names two");
  assert.ok(!ok({ ...ban, room: "#ops", address: "10.0.0.1" }), "an address is server-wide");
  assert.ok(!ok({ ...ban, address: "10.0.0.1; drop" }));
  assert.ok(ok({ ...ban, address: "2001:db8::1" }));
});

Deno.test("moderation: an address a ban names that is no address is refused; an IPv6 one stands for its /64", () => {
  const w = opsRoom();
  w.store.addServerOperator(w.alice.id, T0);
  const bad = w.refused(w.alice, { type: "ban", address: "999.1.1.1" });
  assert.deepEqual([bad.code, bad.message], [
    "bad_frame",
    "999.1.1.1 is not an IPv4 or IPv6 address",
  ]);
  const v6 = w.act(w.alice, { type: "ban", address: "2001:DB8:1:2::7" });
  assert.equal(v6.address, "2001:db8:1:2::/64");
  const other = new FakePeer("v6", "2001:db8:1:2:ffff::1");
  w.say(other, { type: "hello", name: "v6" });
  assert.deepEqual(other.of("error").map((e) => e.code), ["banned"]);
});

Deno.test("moderation: droproom — a member and the room's own operator are forbidden and nothing changes; a server operator removes it (never #general): told once to its members, out for everyone, its bans and mutes gone, its name and its place free", () => {
  const w = opsRoom({ maxRooms: 2 });
  const sam = w.join("sam");
  const dave = w.join("dave");
  w.act(w.alice, { type: "mute", room: "#ops", user: w.carol.id });
  w.act(w.alice, { type: "ban", room: "#ops", user: dave.id });
  w.say(w.bob, { type: "send", ref: "s1", text: "in ops", room: "#ops" });
  const posted = w.bob.of("ack")[0].id;
  // the server keeps two rooms and has them
  assert.equal(w.refused(dave, { type: "join", room: "#new" }).code, "full");
  const before = () => ({
    rooms: w.store.rooms().map((r) => [r.name, r.members]),
    ops: w.store.roomOperators("#ops"),
    bans: w.store.restrictions("#ops", T0, 0, 10).total,
    log: w.store.modlog(undefined, undefined, 10).length,
    message: w.store.message(posted)?.text,
  });
  const was = before();
  for (const peer of [w.bob, w.alice, sam]) {
    for (const peer2 of [w.alice, w.bob, w.carol]) peer2.clear();
    const error = w.refused(peer, { type: "droproom", room: "#ops", reason: "spam" });
    assert.deepEqual([error.code, error.message], [
      "forbidden",
      "only a server operator may remove a room",
    ]);
    assert.deepEqual(w.carol.of("moderation"), []);
  }
  assert.deepEqual(before(), was);

  w.store.addServerOperator(sam.id, T0);
  const general = w.refused(sam, { type: "droproom", room: GENERAL_ROOM });
  assert.deepEqual([general.code, general.message], ["forbidden", "#general cannot be removed"]);
  assert.equal(w.refused(sam, { type: "droproom", room: "#nowhere" }).code, "not_found");
  for (const peer of [w.alice, w.bob, w.carol, dave]) peer.clear();
  const dropped = w.act(sam, { type: "droproom", room: "#ops", reason: "spam" });
  assert.deepEqual(dropped, {
    type: "moderation",
    ref: dropped.ref,
    action: "dropped",
    room: "#ops",
    by: sam.id,
    reason: "spam",
  });
  for (const peer of [w.alice, w.bob, w.carol]) {
    assert.deepEqual(peer.of("moderation").map((e) => [e.action, e.room, e.by, e.reason]), [
      ["dropped", "#ops", sam.id, "spam"],
    ]);
    assert.equal(w.hub.rooms.isIn(peer.id, "#ops"), false);
  }
  assert.deepEqual(dave.of("moderation"), [], "not in it: not told");
  assert.equal(w.hub.rooms.exists("#ops"), false);
  assert.equal(w.hub.rooms.size, 1, "its messages went (the commit runs at once here): it is gone");
  assert.equal(w.store.message(posted), null);
  assert.deepEqual(w.store.roomOperators("#ops"), []);
  assert.equal(w.store.restrictions("#ops", T0, 0, 10).total, 0);
  const [entry] = w.store.modlog(undefined, undefined, 1);
  assert.deepEqual([entry.action, entry.room, entry.by, entry.reason], [
    "dropped",
    "#ops",
    sam.id,
    "spam",
  ]);
  // its old message is one that never was; sending there is sending to a room one is not in
  assert.equal(w.refused(w.bob, { type: "delete", id: posted }).code, "not_found");
  assert.equal(
    w.refused(w.bob, { type: "send", text: "re", replyTo: posted }).code,
    "not_found",
  );
  assert.equal(w.refused(w.bob, { type: "send", text: "x", room: "#ops" }).code, "not_found");
  // a place and the name are free: dave (banned from the old one) makes it anew, carol (muted
  // in the old one) joins it and may speak
  w.roomOf(dave, { type: "join", room: "#ops" });
  assert.equal(w.store.roomCreator("#ops"), dave.id);
  w.roomOf(w.carol, { type: "join", room: "#ops" });
  w.say(w.carol, { type: "send", ref: "c1", text: "free again", room: "#ops" });
  assert.equal(w.carol.of("ack").length, 1, JSON.stringify(w.carol.frames));
});

Deno.test("moderation: a room being removed keeps its name (and its place) until its messages are gone", () => {
  const deferred: (() => void)[] = [];
  const w = opsRoom();
  const sam = w.join("sam");
  w.store.addServerOperator(sam.id, T0);
  // the commit for the removal is deferred here (the hub's default is the end of the turn)
  const messages = w.hub.messages as unknown as { dropRoom(room: string): void };
  const dropRoom = messages.dropRoom.bind(w.hub.messages);
  messages.dropRoom = (room) => void deferred.push(() => dropRoom(room));
  w.act(sam, { type: "droproom", room: "#ops" });
  assert.equal(w.hub.rooms.size, 2, "#general, and #ops until it is gone");
  const busy = w.refused(w.alice, { type: "join", room: "#ops" });
  assert.deepEqual([busy.code, /#ops is being removed/.test(busy.message)], ["unavailable", true]);
  deferred.shift()!();
  assert.equal(w.hub.rooms.size, 1);
  w.roomOf(w.alice, { type: "join", room: "#ops" });
});

Deno.test("moderation: a room's ban or mute of someone not in it is not told to them (its reason is no channel to anyone); an unban is", () => {
  const w = opsRoom();
  const dave = w.join("dave"); // online, not in #ops
  w.act(w.alice, { type: "ban", room: "#ops", user: dave.id, reason: "buy cheap watches" });
  w.act(w.alice, { type: "mute", room: "#ops", user: dave.id, reason: "visit example.com" });
  assert.deepEqual(dave.of("moderation"), [], "nothing reached dave");
  // the room's members hear of it, as of any action there
  assert.deepEqual(w.bob.of("moderation").map((e) => e.action), ["banned", "muted"]);
  // lifting the ban tells them (it carries no reason): they may join again
  w.act(w.alice, { type: "unban", room: "#ops", user: dave.id });
  assert.deepEqual(dave.of("moderation").map((e) => e.action), ["unbanned"]);
  // someone in the room who is banned is told, with the reason
  w.act(w.alice, { type: "ban", room: "#ops", user: w.carol.id, reason: "spam" });
  assert.deepEqual(
    w.carol.of("moderation").filter((e) => e.user === w.carol.id).map((e) => [e.action, e.reason]),
    [["banned", "spam"]],
  );
});

Deno.test("moderation: an operator kicked or banned out of a room comes back a member, not an operator", () => {
  const w = opsRoom();
  const opBob = () => w.act(w.alice, { type: "op", room: "#ops", user: w.bob.id });
  opBob();
  w.act(w.alice, { type: "kick", room: "#ops", user: w.bob.id });
  w.roomOf(w.bob, { type: "join", room: "#ops" });
  assert.ok(!w.store.isOperator(w.bob.id, "#ops"), "kicked: no longer an operator");
  assert.equal(
    w.refused(w.bob, { type: "kick", room: "#ops", user: w.carol.id }).code,
    "forbidden",
  );
  opBob();
  w.act(w.alice, { type: "ban", room: "#ops", user: w.bob.id });
  w.act(w.alice, { type: "unban", room: "#ops", user: w.bob.id });
  w.roomOf(w.bob, { type: "join", room: "#ops" });
  assert.ok(!w.store.isOperator(w.bob.id, "#ops"), "banned: no longer an operator");
  assert.ok(w.store.isMember(w.carol.id, "#ops"));
  // a part of one's own keeps the standing, as it always did; the creator stays one
  opBob();
  w.roomOf(w.bob, { type: "part", room: "#ops" });
  w.roomOf(w.bob, { type: "join", room: "#ops" });
  assert.ok(w.store.isOperator(w.bob.id, "#ops"));
  assert.ok(w.store.isOperator(w.alice.id, "#ops"));
});
