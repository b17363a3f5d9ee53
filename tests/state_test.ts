// Unit tests for src/client/state.ts: server frames → client events, refs.
//
// Run: deno test -A tests/state_test.ts

import assert from "node:assert/strict";
import {
  ClientState,
  MAX_KEPT_MESSAGES,
  MAX_KEPT_RESULTS,
  MIN_REF_LENGTH,
} from "../src/client/state.ts";
import { GENERAL_ROOM, type Message, type RoomInfo, type User } from "../src/protocol/schema.ts";
import { welcomeFrame } from "./fixtures.ts";

const tom: User = { id: "tom_0001", name: "tom" };
const alice: User = { id: "alice_1234", name: "alice" };
const bob: User = { id: "bob_1111", name: "bob" };

/** A ULID with this 5-character tail (Crockford base32). */
function ulid(tail: string, head = "01J9ZQ3V5W8X2Y4Z6A7B8"): string {
  const id = head + tail;
  assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  return id;
}

function msg(id: string, extra: Partial<Message> = {}): Message {
  return { type: "message", id, from: alice.id, text: `text of ${id}`, time: 1000, ...extra };
}

function welcomed(): ClientState {
  const state = new ClientState();
  state.apply(welcomeFrame({ you: tom, token: "secret", users: [tom, alice] }));
  return state;
}

Deno.test("apply welcome: who I am, my token, who is online", () => {
  const state = new ClientState();
  const events = state.apply(welcomeFrame({ you: tom, token: "secret", users: [tom, alice] }));
  assert.deepEqual(events, [{ type: "welcome", you: tom, users: [tom, alice], online: 2 }]);
  assert.deepEqual(state.me, tom);
  assert.equal(state.token, "secret");
  assert.deepEqual([...state.users.keys()], [tom.id, alice.id]);
});

Deno.test("apply welcome again (reconnect): the user list is replaced", () => {
  const state = welcomed();
  state.apply(welcomeFrame({ you: tom, token: "secret", users: [tom, bob] }));
  assert.deepEqual([...state.users.keys()], [tom.id, bob.id]);
});

Deno.test("apply message: shown with a ref, remembered, lastId tracked", () => {
  const state = welcomed();
  const id = ulid("ABCDE");
  const [event] = state.apply(msg(id));
  assert.equal(event.type, "message");
  if (event.type !== "message") return;
  assert.equal(event.message.id, id);
  assert.equal(event.message.ref, "bcde");
  assert.equal(event.message.text, `text of ${id}`);
  assert.equal(event.message.replyRef, undefined);
  assert.equal(state.messages.get(id)?.ref, "bcde");
  assert.equal(state.lastId, id);
});

Deno.test("apply message: a duplicate id gives no event", () => {
  const state = welcomed();
  const id = ulid("ABCDE");
  assert.equal(state.apply(msg(id)).length, 1);
  assert.deepEqual(state.apply(msg(id)), []);
  assert.deepEqual(state.apply(msg(id, { replay: true })), []);
  assert.equal(state.messages.size, 1);
});

Deno.test("apply message: lastId is the last message frame received (the server's order)", () => {
  const state = welcomed();
  state.apply(msg(ulid("00002")));
  state.apply(msg(ulid("00001")));
  assert.equal(state.lastId, ulid("00001"));
  state.apply(msg(ulid("00003")));
  assert.equal(state.lastId, ulid("00003"));
  // a duplicate (a replay overlapping what was seen) still moves the cursor, shows nothing
  assert.deepEqual(state.apply(msg(ulid("00002"))), []);
  assert.equal(state.lastId, ulid("00002"));
});

Deno.test("refs: at least 4 chars, the lowercase tail of the id", () => {
  const state = welcomed();
  for (const tail of ["ABCDE", "0Z9Y8", "KMNPQ"]) {
    const id = ulid(tail);
    const [event] = state.apply(msg(id));
    if (event.type !== "message") throw new Error("expected a message");
    const ref = event.message.ref;
    assert.ok(ref.length >= MIN_REF_LENGTH);
    assert.equal(ref, ref.toLowerCase());
    assert.ok(id.toLowerCase().endsWith(ref));
    assert.equal(ref.length, MIN_REF_LENGTH);
  }
});

Deno.test("refs: a collision on the 4-char tail gets a longer ref; both stay unique", () => {
  const state = welcomed();
  const a = ulid("1WXYZ");
  const b = ulid("2WXYZ");
  const [ea] = state.apply(msg(a));
  const [eb] = state.apply(msg(b));
  if (ea.type !== "message" || eb.type !== "message") throw new Error("expected messages");
  assert.equal(ea.message.ref, "wxyz");
  assert.equal(eb.message.ref, "2wxyz");
  assert.equal(state.resolveRef("wxyz")?.id, a);
  assert.equal(state.resolveRef("2wxyz")?.id, b);
});

Deno.test("refs: many ids sharing a long tail all get distinct refs", () => {
  const state = welcomed();
  const refs = new Set<string>();
  const heads = ["01J9ZQ3V5W8X2Y4Z6A7B8", "01J9ZQ3V5W8X2Y4Z6A7B9", "01J9ZQ3V5W8X2Y4Z6A7C8"];
  for (const head of heads) {
    for (const first of ["1", "2"]) {
      const [event] = state.apply(msg(ulid(first + "WXYZ", head)));
      if (event.type !== "message") throw new Error("expected a message");
      refs.add(event.message.ref);
    }
  }
  assert.equal(refs.size, 6);
  for (const ref of refs) assert.equal(state.resolveRef(ref)?.ref, ref);
});

Deno.test("refs: stable once given (a later collision does not change the first)", () => {
  const state = welcomed();
  const a = ulid("1WXYZ");
  state.apply(msg(a));
  state.apply(msg(ulid("2WXYZ")));
  state.apply(msg(ulid("3WXYZ")));
  assert.equal(state.messages.get(a)?.ref, "wxyz");
  assert.equal(state.resolveRef("wxyz")?.id, a);
});

Deno.test("refs: a deleted message's ref is not handed to a new message", () => {
  const state = welcomed();
  const a = ulid("1WXYZ");
  state.apply(msg(a));
  state.apply({ type: "deleted", id: a, reason: "deleted" });
  const [event] = state.apply(msg(ulid("2WXYZ")));
  if (event.type !== "message") throw new Error("expected a message");
  assert.notEqual(event.message.ref, "wxyz");
  assert.equal(state.resolveRef("wxyz"), undefined);
});

Deno.test("resolveRef: with or without '#', any case", () => {
  const state = welcomed();
  const id = ulid("ABCDE");
  state.apply(msg(id));
  for (const typed of ["bcde", "#bcde", "BCDE", "#BcDe"]) {
    assert.equal(state.resolveRef(typed)?.id, id, typed);
  }
  assert.equal(state.resolveRef("zzzz"), undefined);
  assert.equal(state.resolveRef(""), undefined);
  assert.equal(state.resolveRef("#"), undefined);
});

Deno.test("apply message: a reply to a shown message carries its ref and the server's quote", () => {
  const state = welcomed();
  const original = ulid("00001");
  state.apply(msg(original));
  const quote = { from: alice.id, text: `text of ${original}` };
  const [event] = state.apply(msg(ulid("00002"), { from: tom.id, replyTo: original, quote }));
  if (event.type !== "message") throw new Error("expected a message");
  assert.equal(event.message.replyTo, original);
  assert.equal(event.message.replyRef, "0001");
  assert.deepEqual(event.message.quote, quote);
  assert.equal(state.resolveRef(event.message.replyRef!)?.id, original);
});

Deno.test("apply message: a reply to a message not shown here has no replyRef, keeps the quote", () => {
  const state = welcomed();
  const quote = { from: alice.id, text: "older than this session" };
  const [event] = state.apply(msg(ulid("00002"), { replyTo: ulid("00001"), quote }));
  if (event.type !== "message") throw new Error("expected a message");
  assert.equal(event.message.replyRef, undefined);
  assert.deepEqual(event.message.quote, quote);
});

Deno.test("apply message: a reply to a deleted original keeps the deleted quote", () => {
  const state = welcomed();
  const original = ulid("00001");
  state.apply(msg(original));
  state.apply({ type: "deleted", id: original, reason: "deleted" });
  const [event] = state.apply(
    msg(ulid("00002"), { replyTo: original, quote: { deleted: true } }),
  );
  if (event.type !== "message") throw new Error("expected a message");
  assert.equal(event.message.replyRef, undefined);
  assert.deepEqual(event.message.quote, { deleted: true });
});

Deno.test("apply deleted: a reply shown here no longer quotes the deleted original's text", () => {
  // Deleted and expired messages vanish everywhere: the quote a reply carries is their text.
  const state = welcomed();
  const original = ulid("00001");
  state.apply(msg(original, { text: "regret this" }));
  const reply = ulid("00002");
  state.apply(
    msg(reply, { replyTo: original, quote: { from: alice.id, text: "regret this" } }),
  );
  state.apply({ type: "deleted", id: original, reason: "deleted" });
  const shown = state.messages.get(reply);
  assert.ok(shown, "the reply itself stays");
  assert.ok(
    !JSON.stringify(shown).includes("regret this"),
    `the deleted text is still held in the reply: ${JSON.stringify(shown.quote)}`,
  );
});

Deno.test("apply deleted: forgets the message and reports its ref", () => {
  const state = welcomed();
  const id = ulid("ABCDE");
  state.apply(msg(id));
  assert.deepEqual(state.apply({ type: "deleted", id, reason: "expired" }), [
    { type: "deleted", id, ref: "bcde", reason: "expired" },
  ]);
  assert.equal(state.messages.has(id), false);
  assert.equal(state.resolveRef("bcde"), undefined);
});

Deno.test("apply deleted: an unknown or already deleted id shows nothing (idempotent)", () => {
  const state = welcomed();
  const id = ulid("ABCDE");
  assert.deepEqual(state.apply({ type: "deleted", id, reason: "deleted" }), []);
  state.apply(msg(id));
  assert.equal(state.apply({ type: "deleted", id, reason: "expired" }).length, 1);
  assert.deepEqual(state.apply({ type: "deleted", id, reason: "expired" }), []);
});

Deno.test("apply presence: joins and leaves update who is online", () => {
  const state = welcomed();
  assert.deepEqual(state.apply({ type: "presence", joined: bob, online: 3 }), [
    { type: "presence", joined: bob, left: undefined, online: 3 },
  ]);
  assert.ok(state.users.has(bob.id));
  assert.deepEqual(state.apply({ type: "presence", left: alice, online: 2 }), [
    { type: "presence", joined: undefined, left: alice, online: 2 },
  ]);
  assert.deepEqual([...state.users.keys()], [tom.id, bob.id]);
});

Deno.test("apply users: replaces the online list", () => {
  const state = welcomed();
  assert.deepEqual(state.apply({ type: "users", ref: "r", users: [bob] }), [
    { type: "users", users: [bob], online: 1 },
  ]);
  assert.deepEqual([...state.users.keys()], [bob.id]);
});

Deno.test("apply results: known messages keep their refs; unknown ones get refs", () => {
  const state = welcomed();
  const known = ulid("ABCDE");
  const unknown = ulid("FGHJK");
  state.apply(msg(known));
  const [event] = state.apply({
    type: "results",
    ref: "r",
    total: 2,
    messages: [msg(known), msg(unknown)],
  });
  if (event.type !== "results") throw new Error("expected results");
  assert.equal(event.total, 2);
  assert.deepEqual(event.messages.map((m) => m.ref), ["bcde", "ghjk"]);
});

Deno.test("apply results: a ref shown in results can be typed back (resolveRef)", () => {
  // A person sees "#ghjk" beside a history/search result and types `/reply ghjk ...`.
  const state = welcomed();
  const unknown = ulid("FGHJK");
  const [event] = state.apply({ type: "results", ref: "r", total: 1, messages: [msg(unknown)] });
  if (event.type !== "results") throw new Error("expected results");
  const ref = event.messages[0].ref;
  assert.equal(state.resolveRef(ref)?.id, unknown, `ref ${ref} shown but does not resolve`);
});

Deno.test("apply ack, error, goodbye, pong", () => {
  const state = welcomed();
  const id = ulid("ABCDE");
  assert.deepEqual(state.apply({ type: "ack", ref: "r1", id, time: 5 }), [
    { type: "ack", requestRef: "r1", id },
  ]);
  assert.deepEqual(
    state.apply({ type: "error", ref: "r2", code: "not_found", message: "no such message" }),
    [{ type: "error", requestRef: "r2", code: "not_found", message: "no such message" }],
  );
  assert.deepEqual(state.apply({ type: "error", code: "bad_frame", message: "bad" }), [
    { type: "error", requestRef: undefined, code: "bad_frame", message: "bad" },
  ]);
  assert.deepEqual(state.apply({ type: "goodbye", reason: "replaced", message: "bye" }), [
    { type: "goodbye", reason: "replaced", message: "bye" },
  ]);
  assert.deepEqual(state.apply({ type: "pong" }), []);
});

/** The n-th of many distinct ULIDs (a 5-character base32 tail from n). */
function nth(n: number): string {
  const digits = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  let tail = "";
  for (let i = 0, v = n; i < 5; i++, v = Math.floor(v / 32)) tail = digits[v % 32] + tail;
  return ulid(tail);
}

Deno.test("kept messages are bounded: the oldest and their refs are forgotten", () => {
  const state = welcomed();
  const extra = 5;
  const refs: string[] = [];
  for (let i = 0; i < MAX_KEPT_MESSAGES + extra; i++) {
    const [event] = state.apply(msg(nth(i)));
    assert.equal(event.type, "message");
    if (event.type === "message") refs.push(event.message.ref);
  }
  assert.equal(state.messages.size, MAX_KEPT_MESSAGES);
  for (let i = 0; i < extra; i++) {
    assert.equal(state.messages.has(nth(i)), false);
    assert.equal(state.resolveRef(refs[i])?.id === nth(i), false, `ref ${refs[i]} still works`);
  }
  assert.equal(state.resolveRef(refs.at(-1)!)?.id, nth(MAX_KEPT_MESSAGES + extra - 1));
  assert.equal(state.resolveRef(refs[extra])?.id, nth(extra));
  // a deletion of a forgotten message has nothing to take away
  assert.deepEqual(state.apply({ type: "deleted", id: nth(0), reason: "deleted" }), []);
});

Deno.test("kept search results are bounded too", () => {
  const state = welcomed();
  const total = MAX_KEPT_RESULTS + 3;
  const messages = Array.from({ length: total }, (_, i) => msg(nth(i)));
  const [event] = state.apply({ type: "results", ref: "s", total, messages });
  assert.equal(event.type, "results");
  if (event.type !== "results") return;
  const first = event.messages[0].ref;
  const last = event.messages.at(-1)!.ref;
  assert.equal(state.resolveRef(first), undefined, "the oldest result was forgotten");
  assert.equal(state.resolveRef(last)?.id, nth(total - 1));
});

// ---- rooms ------------------------------------------------------------------------------------

const info = (name: string, extra: Partial<RoomInfo> = {}): RoomInfo => ({
  name,
  topic: "",
  private: false,
  members: 1,
  online: 1,
  ...extra,
});

Deno.test("rooms: the welcome says which rooms I am in; what I type goes to #general at first", () => {
  const state = new ClientState();
  const rooms = [info(GENERAL_ROOM), info("#builds")];
  const [event] = state.apply(welcomeFrame({ you: tom, rooms }));
  assert.deepEqual(event, { type: "welcome", you: tom, users: [tom], online: 1, rooms });
  assert.deepEqual([...state.rooms.keys()], [GENERAL_ROOM, "#builds"]);
  assert.equal(state.room, GENERAL_ROOM);
});

Deno.test("rooms: joining on request moves what I type there; parting it moves it back to #general", () => {
  const state = welcomed();
  state.apply(welcomeFrame({ you: tom, rooms: [info(GENERAL_ROOM)] }));
  const asked = { type: "join" as const, ref: "r1", room: "#builds" };
  const [joined] = state.apply(
    { type: "room", ref: "r1", event: "joined", room: info("#builds") },
    asked,
  );
  assert.deepEqual(joined, {
    type: "room",
    event: "joined",
    room: info("#builds"),
    here: "#builds",
  });
  assert.equal(state.room, "#builds");
  // joined again (a retry after a reconnect): nothing moves
  const [again] = state.apply({ type: "room", event: "joined", room: info("#builds") });
  assert.equal("here" in again, false);
  const [parted] = state.apply({ type: "room", event: "parted", room: info("#builds") });
  assert.deepEqual([parted.type === "room" && parted.here, state.room], [
    GENERAL_ROOM,
    GENERAL_ROOM,
  ]);
  assert.deepEqual([...state.rooms.keys()], [GENERAL_ROOM]);
  // a part asked for is one's own; one not asked for, the server found this user put out
  state.apply({ type: "room", event: "joined", room: info("#c") });
  const [mine] = state.apply({ type: "room", ref: "p1", event: "parted", room: info("#c") }, {
    type: "part",
    ref: "p1",
    room: "#c",
  });
  assert.equal(mine.type === "room" && mine.notAsked, undefined);
  state.apply({ type: "room", event: "joined", room: info("#c") });
  const [putOut] = state.apply({ type: "room", event: "parted", room: info("#c") });
  assert.equal(putOut.type === "room" && putOut.notAsked, true);
  assert.deepEqual([...state.rooms.keys()], [GENERAL_ROOM]);
  // parting a room one does not type in moves nothing; parting #general last, to what is left
  state.apply({ type: "room", event: "joined", room: info("#b") });
  state.apply({ type: "room", event: "parted", room: info(GENERAL_ROOM) });
  assert.equal(state.room, "#b");
});

Deno.test("rooms: a room's join or part is not someone coming online; a room's who does not replace who is online", () => {
  const state = welcomed();
  const [event] = state.apply({ type: "presence", room: "#b", joined: bob, online: 2 });
  assert.deepEqual(event, {
    type: "presence",
    room: "#b",
    joined: bob,
    left: undefined,
    online: 2,
  });
  assert.deepEqual([[...state.users.keys()], state.online], [[tom.id, alice.id], 2]);
  const [users] = state.apply({ type: "users", ref: "r", users: [bob], online: 1, room: "#b" });
  assert.deepEqual(users, { type: "users", users: [bob], online: 1, room: "#b" });
  assert.deepEqual([...state.users.keys()], [tom.id, alice.id]);
});

Deno.test("rooms: a topic, privacy and the list update the rooms I am in; an invitation to me says so", () => {
  const state = new ClientState();
  state.apply(welcomeFrame({ you: tom, rooms: [info("#b")] }));
  state.apply({ type: "room", event: "topic", room: info("#b", { topic: "hi" }), by: alice.id });
  assert.equal(state.rooms.get("#b")?.topic, "hi");
  state.apply({
    type: "rooms",
    ref: "r",
    rooms: [info("#b", { members: 7 }), info("#c")],
    total: 2,
  });
  assert.deepEqual([...state.rooms.values()].map((r) => [r.name, r.members]), [["#b", 7]]);
  const [invited] = state.apply({
    type: "room",
    event: "invited",
    room: info("#v", { private: true }),
    by: alice.id,
    user: tom.id,
  });
  assert.deepEqual(invited, {
    type: "room",
    event: "invited",
    room: info("#v", { private: true }),
    by: alice.id,
    user: tom.id,
    toMe: true,
  });
  assert.ok(!state.rooms.has("#v"), "invited is not in");
});

Deno.test("moderation: kicked or banned from the room I type in, it is gone from my rooms and I type in #general; others' kicks change nothing of mine", () => {
  const state = welcomed();
  state.apply(welcomeFrame({ you: tom, rooms: [info(GENERAL_ROOM), info("#ops")] }));
  state.apply(
    { type: "room", ref: "r1", event: "joined", room: info("#ops") },
    { type: "join", ref: "r1", room: "#ops" },
  );
  const [other] = state.apply({
    type: "moderation",
    action: "kicked",
    room: "#ops",
    user: "bob_0002",
    by: "ann_0001",
  });
  assert.deepEqual(other, {
    type: "moderation",
    action: "kicked",
    room: "#ops",
    user: "bob_0002",
    by: "ann_0001",
  });
  assert.equal(state.room, "#ops");
  const ban = {
    type: "moderation" as const,
    action: "banned" as const,
    room: "#ops",
    user: tom.id,
    by: "ann_0001",
    reason: "spam",
    until: 5,
  };
  const [mine] = state.apply(ban);
  assert.deepEqual(mine, { ...ban, toMe: true, here: GENERAL_ROOM });
  assert.deepEqual([state.room, [...state.rooms.keys()]], [GENERAL_ROOM, [GENERAL_ROOM]]);
  // a mute keeps me in the room
  const [muted] = state.apply({ type: "moderation", action: "muted", user: tom.id, by: "x_0001" });
  assert.equal(muted.type === "moderation" && muted.toMe, true);
  assert.deepEqual([...state.rooms.keys()], [GENERAL_ROOM]);
  // an operator's deletion says by whom
  state.apply({
    type: "message",
    id: ulid("AAAAA"),
    from: "bob_0002",
    room: GENERAL_ROOM,
    text: "x",
    time: 1,
  });
  const [deleted] = state.apply({
    type: "deleted",
    id: ulid("AAAAA"),
    reason: "deleted",
    by: "ann_0001",
  });
  assert.equal(deleted.type === "deleted" && deleted.by, "ann_0001");
});

Deno.test("moderation: someone else kicked or banned from a room of mine: its counts are the ones the line carries, and it is still one event", () => {
  const state = new ClientState();
  state.apply(welcomeFrame({
    you: tom,
    rooms: [info(GENERAL_ROOM), info("#ops", { members: 4, online: 3, topic: "t" })],
  }));
  const kick = {
    type: "moderation" as const,
    action: "kicked" as const,
    room: "#ops",
    user: bob.id,
    by: alice.id,
    members: 3,
    online: 2,
  };
  const events = state.apply(kick);
  assert.deepEqual(events, [{ ...kick }]);
  assert.deepEqual(state.rooms.get("#ops"), info("#ops", { members: 3, online: 2, topic: "t" }));
  assert.equal(state.room, GENERAL_ROOM);
  // a large room's line carries none: its count comes as a part's does, by presence
  state.apply({ type: "moderation", action: "banned", room: "#ops", user: "x_0002", by: alice.id });
  assert.deepEqual([state.rooms.get("#ops")?.members, state.rooms.get("#ops")?.online], [3, 2]);
  state.apply({ type: "presence", room: "#ops", online: 1 });
  assert.equal(state.rooms.get("#ops")?.online, 1);
  // a room I am not in: nothing of mine changes
  state.apply({ ...kick, room: "#elsewhere" });
  assert.deepEqual([...state.rooms.keys()], [GENERAL_ROOM, "#ops"]);
  // a mute carries no counts and changes none
  state.apply({ type: "moderation", action: "muted", room: "#ops", user: bob.id, by: alice.id });
  assert.deepEqual([state.rooms.get("#ops")?.members, state.rooms.get("#ops")?.online], [3, 1]);
});

Deno.test("moderation: a room removed is gone from everyone's rooms; typing there moves to #general", () => {
  const state = welcomed();
  state.apply(welcomeFrame({ you: tom, rooms: [info(GENERAL_ROOM), info("#ops"), info("#spam")] }));
  const drop = { type: "moderation" as const, action: "dropped" as const, by: "ann_0001" };
  const [elsewhere] = state.apply({ ...drop, room: "#ops", reason: "spam" });
  assert.deepEqual(elsewhere, { ...drop, room: "#ops", reason: "spam" });
  assert.deepEqual([...state.rooms.keys()], [GENERAL_ROOM, "#spam"]);
  state.apply(
    { type: "room", ref: "r1", event: "joined", room: info("#spam") },
    { type: "join", ref: "r1", room: "#spam" },
  );
  assert.equal(state.room, "#spam");
  const [here] = state.apply({ ...drop, room: "#spam" });
  assert.deepEqual(here, { ...drop, room: "#spam", here: GENERAL_ROOM });
  assert.deepEqual([state.room, [...state.rooms.keys()]], [GENERAL_ROOM, [GENERAL_ROOM]]);
});
