// Unit tests for rooms (src/server/rooms.ts) through the hub: joining (a room made by its
// first member, who is kept as its operator), parting, topics, invite-only rooms and
// invitations, the list of rooms and who is in one — and messages in rooms: a public message
// reaches its room's members only, and a room one is not in is unseen in history, search,
// replies, deletes and the backlog. Each bound is sent the thing it refuses: rooms per user,
// rooms on the server, members and rooms listed per frame, the topic's length, and the rate
// limits on changing and making rooms.
//
// Run: deno test -A --lock=deno.dev.lock tests/rooms_test.ts

import assert from "node:assert/strict";
import { encodeFrame, MAX_FRAME_BYTES } from "../src/protocol/codec.ts";
import {
  ClientFrame,
  GENERAL_ROOM,
  MAX_TOPIC_LENGTH,
  type RoomInfo,
} from "../src/protocol/schema.ts";
import { PRESENCE_INTERVAL_MS, PRESENCE_NAMES_LIMIT } from "../src/server/hub.ts";
import { ROOM_CHANGE_BURST, ROOMS_CREATED_PER_HOUR } from "../src/server/limiters.ts";
import {
  MAX_INVITES_PER_ROOM,
  MAX_ROOMS_PER_USER,
  MEMBERS_LIST_LIMIT,
  notInRoom,
  ROOMS_LIST_LIMIT,
} from "../src/server/rooms.ts";
import { SqliteStore } from "../src/server/store/sqlite.ts";
import { FakePeer, type Frame, HOUR, T0, world } from "./fixtures.ts";

const texts = (peer: FakePeer) => peer.of("message").map((m) => m.text);

/** A world where tom made #team and ann joined it; eve is online, outside it. */
function team() {
  const w = world();
  const tom = w.join("tom");
  const ann = w.join("ann");
  const eve = w.join("eve");
  for (const peer of [tom, ann]) w.roomOf(peer, { type: "join", room: "#team" });
  return { w, tom, ann, eve };
}

// ---- joining and parting ----------------------------------------------------------------------

Deno.test("rooms: a new id is in #general; join makes a room, its creator its operator, and says so to its members", () => {
  const w = world();
  const tom = w.join("tom");
  const ann = w.join("ann");
  assert.deepEqual(tom.welcome.rooms?.map((r) => r.name), [GENERAL_ROOM]);
  const made = w.roomOf(tom, { type: "join", room: "#Builds" });
  assert.equal(made.event, "joined");
  assert.deepEqual(made.room, {
    name: "#builds",
    topic: "",
    private: false,
    members: 1,
    online: 1,
  });
  assert.ok(w.store.isOperator(tom.id, "#builds"));
  assert.ok(!w.store.isOperator(tom.id, GENERAL_ROOM), "#general has no operator");
  tom.clear();
  const joined = w.roomOf(ann, { type: "join", room: "#builds" });
  assert.deepEqual([joined.room.members, joined.room.online], [2, 2]);
  assert.ok(!w.store.isOperator(ann.id, "#builds"));
  assert.deepEqual(tom.of("presence"), [{
    type: "presence",
    room: "#builds",
    joined: { id: ann.id, name: "ann" },
    online: 2,
  }]);
  assert.deepEqual(ann.of("presence"), [], "the one who joins hears their answer, not a join");
  // joining again is the same answer, and nothing more
  tom.clear();
  assert.equal(w.roomOf(ann, { type: "join", room: "#builds" }).room.members, 2);
  assert.deepEqual(tom.frames, []);
});

Deno.test("rooms: part leaves a room, its members told; a room not yours is one refusal, whatever it is", () => {
  const w = world();
  const tom = w.join("tom");
  const ann = w.join("ann");
  const eve = w.join("eve");
  w.roomOf(tom, { type: "join", room: "#open" });
  w.roomOf(tom, { type: "join", room: "#secret", private: true });
  w.roomOf(ann, { type: "join", room: "#open" });
  tom.clear();
  const parted = w.roomOf(ann, { type: "part", room: "#open" });
  assert.deepEqual([parted.event, parted.room.members, parted.room.online], ["parted", 1, 1]);
  assert.deepEqual(tom.of("presence"), [{
    type: "presence",
    room: "#open",
    left: { id: ann.id, name: "ann" },
    online: 1,
  }]);
  assert.ok(!w.store.isMember(ann.id, "#open"));
  // public, invite-only, none at all: eve hears the same words
  const answers = ["#open", "#secret", "#nothing"].map((room) => {
    const error = w.refused(eve, { type: "part", room });
    return [error.code, error.message.replace(room, "#X")];
  });
  assert.deepEqual(answers, Array(3).fill(["not_found", notInRoom("#X")]));
});

Deno.test("rooms: an invite-only room lets in only those invited; its name being taken is all an outsider learns", () => {
  const w = world();
  const tom = w.join("tom");
  const eve = w.join("eve");
  const ann = w.join("ann");
  w.roomOf(tom, { type: "join", room: "#secret", private: true });
  const refused = w.refused(eve, { type: "join", room: "#secret" });
  assert.equal(refused.code, "forbidden");
  assert.match(refused.message, /the name #secret is taken/);
  assert.ok(!refused.message.includes("invite-only") && !refused.message.includes(tom.id));
  // asking for an invite-only room of a public one's name is refused, not a quiet public join
  w.roomOf(tom, { type: "join", room: "#open" });
  assert.match(w.refused(ann, { type: "join", room: "#open", private: true }).message, /public/);
  assert.ok(!w.store.isMember(ann.id, "#open"));
  // invited: told, let in once
  ann.clear();
  const invited = w.roomOf(tom, { type: "invite", room: "#secret", user: ann.id });
  assert.deepEqual([invited.event, invited.by, invited.user], ["invited", tom.id, ann.id]);
  const [told] = ann.of("room");
  assert.deepEqual([told.event, told.room.name, told.by, told.ref], [
    "invited",
    "#secret",
    tom.id,
    undefined,
  ]);
  assert.equal(w.roomOf(ann, { type: "join", room: "#secret" }).room.members, 2);
  assert.ok(!w.store.isInvited(ann.id, "#secret"), "the invitation is taken up");
  w.roomOf(ann, { type: "part", room: "#secret" });
  assert.equal(w.refused(ann, { type: "join", room: "#secret" }).code, "forbidden");
  // an invitation by a name online, or to someone unknown
  assert.equal(w.roomOf(tom, { type: "invite", room: "#secret", user: "eve" }).user, eve.id);
  assert.equal(
    w.refused(tom, { type: "invite", room: "#secret", user: "nobody_9999" }).code,
    "unknown_recipient",
  );
});

Deno.test("rooms: only an operator makes a room invite-only or public again; never #general", () => {
  const w = world();
  const tom = w.join("tom");
  const ann = w.join("ann");
  for (const peer of [tom, ann]) w.roomOf(peer, { type: "join", room: "#team" }); // tom: operator
  const forbidden = w.refused(ann, { type: "private", room: "#team", private: true });
  assert.equal(forbidden.code, "forbidden");
  assert.match(forbidden.message, /only an operator of #team/);
  ann.clear();
  const made = w.roomOf(tom, { type: "private", room: "#team", private: true });
  assert.deepEqual([made.event, made.room.private, made.by], ["private", true, tom.id]);
  assert.deepEqual(ann.of("room").map((r) => [r.event, r.room.private, r.ref]), [
    ["private", true, undefined],
  ]);
  assert.equal(
    w.refused(tom, { type: "private", room: GENERAL_ROOM, private: true }).code,
    "forbidden",
  );
  assert.equal(
    w.refused(w.join("eve"), { type: "private", room: "#team", private: false }).code,
    "not_found",
  );
});

Deno.test("rooms: membership is kept per id: back on a new connection, and after a restart", () => {
  const dir = Deno.makeTempDirSync({ prefix: "chat-rooms-test-" });
  try {
    const path = `${dir}/chat.db`;
    let token: string;
    {
      const w = world({ store: new SqliteStore(path) });
      const tom = w.join("tom");
      w.roomOf(tom, { type: "join", room: "#builds" });
      w.roomOf(tom, { type: "part", room: GENERAL_ROOM });
      w.hub.disconnect(tom);
      const back = w.join("tom", { token: tom.token });
      assert.deepEqual(back.welcome.rooms?.map((r) => r.name), ["#builds"]);
      token = back.token;
      w.hub.shutdown("restart");
      w.store.close();
    }
    const w = world({ store: new SqliteStore(path) });
    const back = w.join("tom", { token });
    assert.deepEqual(back.welcome.rooms?.map((r) => [r.name, r.members, r.online]), [
      ["#builds", 1, 1],
    ]);
    w.store.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

// ---- topics and lists -------------------------------------------------------------------------

Deno.test("rooms: a member sets the topic, every member online hears it; a topic longer than MAX_TOPIC_LENGTH is no frame", () => {
  const { w, tom, ann, eve } = team();
  ann.clear();
  w.clock.t += 5;
  const set = w.roomOf(ann, { type: "topic", room: "#team", topic: "ship it" });
  assert.deepEqual([set.event, set.by, set.room.topic, set.room.topicBy, set.room.topicAt], [
    "topic",
    ann.id,
    "ship it",
    ann.id,
    T0 + 5,
  ]);
  assert.deepEqual(
    tom.of("room").filter((r) => r.event === "topic").map((r) => [r.room.topic, r.ref]),
    [["ship it", undefined]],
  );
  assert.equal(w.refused(eve, { type: "topic", room: "#team", topic: "pwned" }).code, "not_found");
  for (const topic of ["x".repeat(MAX_TOPIC_LENGTH + 1), "two\nlines", "bell\u0007"]) {
    const frame = { type: "topic", ref: "t", room: "#team", topic };
    assert.ok(!ClientFrame.safeParse(frame).success, JSON.stringify(topic));
  }
  assert.ok(
    ClientFrame.safeParse({
      type: "topic",
      ref: "t",
      room: "#team",
      topic: "x".repeat(MAX_TOPIC_LENGTH),
    }).success,
  );
});

Deno.test("rooms: the list shows public rooms and one's own, never another's invite-only room, nor counts it", () => {
  const w = world();
  const tom = w.join("tom");
  const eve = w.join("eve");
  w.roomOf(tom, { type: "join", room: "#b-open" });
  w.roomOf(tom, { type: "join", room: "#a-secret", private: true });
  w.roomOf(tom, { type: "topic", room: "#b-open", topic: "hello" });
  const mine = w.ask(tom, { type: "rooms" }) as Frame<"rooms">;
  assert.deepEqual(mine.rooms.map((r) => r.name), ["#a-secret", "#b-open", GENERAL_ROOM]);
  assert.equal(mine.total, 3);
  const theirs = w.ask(eve, { type: "rooms" }) as Frame<"rooms">;
  assert.deepEqual(theirs.rooms.map((r) => [r.name, r.members, r.online, r.topic]), [
    ["#b-open", 1, 1, "hello"],
    [GENERAL_ROOM, 2, 2, ""],
  ]);
  assert.equal(theirs.total, 2);
  // paged by name
  const after = w.ask(eve, { type: "rooms", after: "#b-open" }) as Frame<"rooms">;
  assert.deepEqual(after.rooms.map((r) => r.name), [GENERAL_ROOM]);
});

Deno.test("rooms: a list of many rooms with the longest topics stops at what fits one frame (and ROOMS_LIST_LIMIT), with the total", () => {
  const w = world();
  const people = Array.from({ length: 12 }, (_, i) => w.join(`p${i}`));
  const topic = "\u2603".repeat(MAX_TOPIC_LENGTH); // 3 bytes each in UTF-8
  let made = 0;
  for (const person of people) {
    for (let i = 0; i < MAX_ROOMS_PER_USER - 1; i++) {
      const room = `#room-${String(made++).padStart(4, "0")}-${"x".repeat(20)}`;
      w.roomOf(person, { type: "join", room });
      w.say(person, { type: "topic", ref: "t", room, topic });
      w.clock.t += HOUR / ROOMS_CREATED_PER_HOUR; // the limits on making rooms refill
    }
  }
  const eve = w.join("eve");
  const listed = w.ask(eve, { type: "rooms" }) as Frame<"rooms">;
  assert.equal(listed.total, made + 1);
  assert.ok(listed.rooms.length > 0 && listed.rooms.length < Math.min(made, ROOMS_LIST_LIMIT));
  assert.ok(encodeFrame(listed).length <= MAX_FRAME_BYTES);
  const next = w.ask(eve, { type: "rooms", after: listed.rooms.at(-1)!.name }) as Frame<"rooms">;
  assert.equal(next.rooms[0].name > listed.rooms.at(-1)!.name, true, "the next page follows");
});

Deno.test("rooms: who for a room lists its members online, at most MEMBERS_LIST_LIMIT and what fits one frame, with the count", () => {
  const w = world();
  const count = MEMBERS_LIST_LIMIT + 3;
  const peers = Array.from({ length: count }, (_, i) => w.join(`m${i}`.padEnd(24, "x")));
  const [first] = peers;
  const users = w.ask(first, { type: "who", room: GENERAL_ROOM }) as Frame<"users">;
  assert.equal(users.room, GENERAL_ROOM);
  assert.equal(users.online, count);
  assert.ok(users.users.length <= MEMBERS_LIST_LIMIT && users.users.length > 500);
  assert.ok(encodeFrame(users).length <= MAX_FRAME_BYTES);
  assert.deepEqual(users.users[0], { id: first.id, name: "m0".padEnd(24, "x") });
  w.roomOf(first, { type: "join", room: "#small" });
  const small = w.ask(first, { type: "who", room: "#small" }) as Frame<"users">;
  assert.deepEqual([small.users.map((u) => u.id), small.online], [[first.id], 1]);
  assert.equal(w.refused(peers[1], { type: "who", room: "#small" }).code, "not_found");
});

// ---- bounds -----------------------------------------------------------------------------------

Deno.test("rooms: the MAX_ROOMS_PER_USER-th room is the last; part makes room", () => {
  const w = world();
  const tom = w.join("tom");
  for (let i = 1; i < MAX_ROOMS_PER_USER; i++) {
    w.roomOf(tom, { type: "join", room: `#r${i}` });
    w.clock.t += HOUR / ROOMS_CREATED_PER_HOUR;
  }
  const full = w.refused(tom, { type: "join", room: "#one-more" });
  assert.equal(full.code, "full");
  assert.match(full.message, new RegExp(`in ${MAX_ROOMS_PER_USER} rooms`));
  assert.ok(!w.store.rooms().some((r) => r.name === "#one-more"), "nothing was made");
  w.roomOf(tom, { type: "part", room: "#r1" });
  w.roomOf(tom, { type: "join", room: "#one-more" });
});

Deno.test("rooms: past the server's bound on rooms a new one is refused; joining an existing one is not", () => {
  const w = world({ maxRooms: 3 });
  const tom = w.join("tom");
  const ann = w.join("ann");
  w.roomOf(tom, { type: "join", room: "#a" });
  w.roomOf(tom, { type: "join", room: "#b" });
  const full = w.refused(ann, { type: "join", room: "#c" });
  assert.equal(full.code, "full");
  assert.match(full.message, /at most 3 rooms/);
  assert.equal(w.store.rooms().length, 3);
  w.roomOf(ann, { type: "join", room: "#a" });
});

Deno.test("rooms: changes are limited per user (ROOM_CHANGE_BURST) and new rooms per user (ROOMS_CREATED_PER_HOUR) and per address", () => {
  const w = world({ limits: true });
  const tom = w.join("tom", {}, "10.0.0.1");
  w.roomOf(tom, { type: "join", room: "#flip" });
  let changes = 1;
  while (changes < ROOM_CHANGE_BURST) {
    w.roomOf(tom, { type: changes % 2 ? "part" : "join", room: "#flip" });
    changes++;
  }
  const limited = w.refused(tom, { type: "join", room: "#flip" });
  assert.equal(limited.code, "rate_limited");
  assert.match(limited.message, /changes to rooms a minute/);
  w.clock.t += 60_000;
  // new rooms: the per-user allowance, then the address's across new ids
  const ann = w.join("ann", {}, "10.0.0.2");
  for (let i = 0; i < ROOMS_CREATED_PER_HOUR; i++) w.roomOf(ann, { type: "join", room: `#a${i}` });
  const made = w.refused(ann, { type: "join", room: "#a-more" });
  assert.equal(made.code, "rate_limited");
  assert.match(made.message, new RegExp(`${ROOMS_CREATED_PER_HOUR} new rooms an hour`));
  w.roomOf(ann, { type: "join", room: "#flip" }); // an existing room is no new one
  let created = 0;
  let refusal: Frame<"error"> | undefined;
  for (let i = 0; i < 10 && !refusal; i++) {
    const sybil = w.join(`s${i}`, {}, "10.0.0.3");
    for (let j = 0; j < ROOMS_CREATED_PER_HOUR && !refusal; j++) {
      const answer = w.ask(sybil, { type: "join", room: `#s${i}-${j}` });
      if (answer.type === "error") refusal = answer;
      else created++;
    }
  }
  assert.equal(created, 30);
  assert.match(refusal!.message, /30 new rooms an hour from one address/);
});

Deno.test("rooms: an invite-only room keeps its MAX_INVITES_PER_ROOM newest invitations", () => {
  const w = world();
  const tom = w.join("tom");
  w.roomOf(tom, { type: "join", room: "#vip", private: true });
  const ids: string[] = [];
  for (let i = 0; i <= MAX_INVITES_PER_ROOM; i++) {
    const id = `guest${i}_0001`;
    w.store.createIdentity({ id, name: `guest${i}`, tokenHash: `h${i}`, createdAt: 1 });
    w.clock.t += 1_000;
    w.roomOf(tom, { type: "invite", room: "#vip", user: id });
    ids.push(id);
  }
  assert.ok(!w.store.isInvited(ids[0], "#vip"), "the oldest went");
  assert.ok(ids.slice(1).every((id) => w.store.isInvited(id, "#vip")));
});

Deno.test("rooms: in a room past PRESENCE_NAMES_LIMIT online, joins and parts are a count at most once per interval", () => {
  const w = world();
  const peers = Array.from({ length: PRESENCE_NAMES_LIMIT + 1 }, (_, i) => w.join(`u${i}`));
  for (const peer of peers) {
    w.roomOf(peer, { type: "join", room: "#big" });
    w.clock.t += 60_000;
  }
  for (const peer of peers) peer.clear();
  const late = w.join("late");
  w.roomOf(late, { type: "join", room: "#big" });
  w.roomOf(peers[0], { type: "part", room: "#big" });
  assert.deepEqual(peers[1].of("presence").filter((p) => p.room), [], "no names");
  w.clock.t += PRESENCE_INTERVAL_MS;
  w.hub.tick();
  w.hub.tick();
  assert.deepEqual(peers[1].of("presence").filter((p) => p.room), [{
    type: "presence",
    room: "#big",
    online: PRESENCE_NAMES_LIMIT + 1,
  }]);
});

Deno.test("rooms: the largest welcome (every room at its longest topic, the most users named) fits one frame", () => {
  const w = world();
  const names = Array.from({ length: PRESENCE_NAMES_LIMIT }, (_, i) => `u${i}`.padEnd(24, "x"));
  const peers = names.map((name) => w.join(name));
  const tom = peers[0];
  const topic = '\\\u2603"'.repeat(MAX_TOPIC_LENGTH / 3);
  for (let i = 1; i < MAX_ROOMS_PER_USER; i++) {
    const room = `#${String(i).padStart(32, "r")}`;
    w.roomOf(tom, { type: "join", room });
    w.say(tom, { type: "topic", ref: "t", room, topic });
    w.clock.t += HOUR / ROOMS_CREATED_PER_HOUR;
  }
  w.hub.disconnect(tom);
  const back = new FakePeer("tom");
  w.say(back, { type: "hello", name: names[0], token: tom.token });
  const [welcome] = back.of("welcome");
  assert.equal(welcome.rooms?.length, MAX_ROOMS_PER_USER);
  assert.ok(welcome.rooms?.every((r: RoomInfo) => r.name === GENERAL_ROOM || r.topic === topic));
  assert.ok(encodeFrame(welcome).length <= MAX_FRAME_BYTES);
});

// ---- messages in rooms ------------------------------------------------------------------------

Deno.test("rooms: a public message goes to its room's members only, and carries its room; sending to a room not yours is refused", () => {
  const { w, tom, ann, eve } = team();
  for (const peer of [tom, ann, eve]) peer.clear();
  w.say(tom, { type: "send", ref: "1", text: "in team", room: "#team" });
  w.say(tom, { type: "send", ref: "2", text: "in general" });
  assert.deepEqual(texts(ann), ["in team", "in general"]);
  assert.deepEqual(texts(eve), ["in general"]);
  assert.deepEqual(ann.of("message").map((m) => m.room), ["#team", GENERAL_ROOM]);
  const refused = w.refused(eve, { type: "send", text: "let me in", room: "#team" });
  assert.deepEqual([refused.code, refused.message], ["not_found", notInRoom("#team")]);
  // a DM has no room
  w.say(tom, { type: "send", ref: "3", text: "psst", to: [ann.id] });
  assert.equal(ann.of("message").at(-1)!.room, undefined);
});

Deno.test("rooms: an invite-only room's messages are unseen outside it: history, search, replies, deletes, backlog and resume", async () => {
  const w = world();
  const tom = w.join("tom");
  const eve = w.join("eve");
  w.roomOf(tom, { type: "join", room: "#secret", private: true });
  w.say(tom, { type: "send", ref: "s", text: "the secret plan", room: "#secret" });
  const [secret] = tom.of("message");
  w.say(tom, { type: "send", ref: "p", text: "public plan" });
  const history = w.ask(eve, { type: "history", limit: 50 }) as Frame<"results">;
  assert.deepEqual(history.messages.map((m) => m.text), ["public plan"]);
  assert.equal(w.refused(eve, { type: "history", limit: 50, room: "#secret" }).code, "not_found");
  // a search is answered when the searcher is done (a promise, even inline)
  w.say(eve, { type: "search", ref: "s", pattern: "plan" });
  await new Promise((resolve) => setTimeout(resolve, 0));
  const [results] = eve.of("results");
  assert.deepEqual(results.messages.map((m) => m.text), ["public plan"]);
  assert.equal(
    w.refused(eve, { type: "search", pattern: "plan", room: "#secret" }).code,
    "not_found",
  );
  const reply = w.refused(eve, { type: "send", text: "me too", replyTo: secret.id });
  const nothing = w.refused(eve, {
    type: "send",
    text: "me too",
    replyTo: "01ARZ3NDEKTSV4RRFFQ69G5FAV",
  });
  assert.deepEqual([reply.code, reply.message], [nothing.code, nothing.message]);
  const del = w.refused(eve, { type: "delete", id: secret.id });
  const delNothing = w.refused(eve, { type: "delete", id: "01ARZ3NDEKTSV4RRFFQ69G5FAV" });
  assert.deepEqual([del.code, del.message], [delNothing.code, delNothing.message]);
  // eve's backlog and a resume from before it
  w.hub.disconnect(eve);
  const back = new FakePeer("eve");
  w.say(back, { type: "hello", name: "eve", token: eve.token });
  assert.deepEqual(texts(back), ["public plan"]);
  const [first] = tom.of("message");
  w.hub.disconnect(back);
  const resumed = new FakePeer("eve");
  w.say(resumed, {
    type: "hello",
    name: "eve",
    token: back.of("welcome")[0].token,
    resume: first.id,
  });
  assert.deepEqual(texts(resumed), ["public plan"]);
  // tom's reply to it stays in the room
  w.say(tom, { type: "send", ref: "r", text: "agreed", replyTo: secret.id });
  assert.equal(tom.of("message").at(-1)!.room, "#secret");
});

Deno.test("rooms: a resume replays every room the user is in, in order, each once; a room parted is no longer seen", () => {
  const w = world();
  const tom = w.join("tom");
  const ann = w.join("ann");
  for (const peer of [tom, ann]) w.roomOf(peer, { type: "join", room: "#a" });
  w.roomOf(ann, { type: "join", room: "#b" });
  w.roomOf(tom, { type: "join", room: "#b" });
  w.say(ann, { type: "send", ref: "0", text: "seen", room: "#a" });
  const [seen] = tom.of("message").filter((m) => m.text === "seen");
  w.hub.disconnect(tom);
  const order = ["#a", "#b", GENERAL_ROOM, "#b", "#a"];
  order.forEach((room, i) =>
    w.say(ann, { type: "send", ref: `m${i}`, text: `${room} ${i}`, room })
  );
  const back = new FakePeer("tom");
  w.say(back, { type: "hello", name: "tom", token: tom.token, resume: seen.id });
  assert.deepEqual(texts(back), order.map((room, i) => `${room} ${i}`));
  assert.ok(back.of("message").every((m) => m.replay));
  w.roomOf(back, { type: "part", room: "#b" });
  const history = w.ask(back, { type: "history", limit: 50 }) as Frame<"results">;
  assert.ok(!history.messages.some((m) => m.room === "#b"));
  const roomHistory = w.ask(back, { type: "history", limit: 50, room: "#a" }) as Frame<"results">;
  assert.deepEqual(roomHistory.messages.map((m) => m.text), ["seen", "#a 0", "#a 4"]);
});

Deno.test("rooms: a deletion and an expiry reach the room's members only", () => {
  const { w, tom, ann, eve } = team();
  w.say(tom, { type: "send", ref: "d", text: "oops", room: "#team" });
  w.say(tom, { type: "send", ref: "t", text: "soon gone", room: "#team", ttl: 1 });
  const [oops, temp] = tom.of("message");
  w.say(tom, { type: "delete", ref: "x", id: oops.id });
  w.clock.t += 1_000;
  w.hub.tick();
  assert.deepEqual(ann.of("deleted").map((d) => [d.id, d.reason]), [
    [oops.id, "deleted"],
    [temp.id, "expired"],
  ]);
  assert.deepEqual(eve.of("deleted"), []);
});
