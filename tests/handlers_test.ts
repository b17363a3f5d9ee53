// Unit tests for src/server/handlers.ts, every row of the table of client frames: whether it
// needs a hello, which limit it spends from, and what it does — with a minimal fake hub that
// records which owner each row calls (the owners have their own tests), a real Presence for
// `who`, and the hub's own dispatch (Hub.prototype.handle) run against that fake.
//
// Beyond tests/hub_test.ts: that the table has exactly one row per frame type of the schema,
// that needsHello and the limit are as declared for every row (hub_test tries five rows before
// hello and the limits of two), that a refused limit keeps the owner from being called, that a
// peer waiting for a delayed refusal is not heard for any frame, `logout_others` when the store
// cannot revoke (error unavailable, no list) and on a connection without a session, `sessions`
// marking the connection's own, and `who`'s online count beyond its list.
//
// Run: deno test -A --lock=deno.dev.lock tests/handlers_test.ts

import assert from "node:assert/strict";
import { ClientFrame, type SessionInfo, type User } from "../src/protocol/schema.ts";
import { HANDLERS } from "../src/server/handlers.ts";
import { Hub } from "../src/server/hub.ts";
import { Away } from "../src/server/away.ts";
import type { LimitKind } from "../src/server/limiters.ts";
import { Presence, USERS_LIST_LIMIT } from "../src/server/presence.ts";
import { clientFrame, FakePeer, mid } from "./fixtures.ts";

type Type = ClientFrame["type"];
type FrameOf<T extends Type> = Extract<ClientFrame, { type: T }>;

/** A valid frame of every type (a new type fails to type-check here until it has one). */
const SAMPLES: { [T in Type]: FrameOf<T> } = {
  hello: { type: "hello", name: "tom" },
  ping: { type: "ping" },
  bye: { type: "bye" },
  send: { type: "send", ref: "r-send", text: "hi" },
  delete: { type: "delete", ref: "r-delete", id: mid(1) },
  search: { type: "search", ref: "r-search", pattern: "hi" },
  history: { type: "history", ref: "r-history", limit: 10 },
  who: { type: "who", ref: "r-who" },
  sessions: { type: "sessions", ref: "r-sessions" },
  logout_others: { type: "logout_others", ref: "r-logout" },
  join: { type: "join", ref: "r-join", room: "#builds" },
  part: { type: "part", ref: "r-part", room: "#builds" },
  rooms: { type: "rooms", ref: "r-rooms" },
  topic: { type: "topic", ref: "r-topic", room: "#builds", topic: "green" },
  invite: { type: "invite", ref: "r-invite", room: "#builds", user: "ann_0001" },
  private: { type: "private", ref: "r-private", room: "#builds", private: true },
  away: { type: "away", ref: "r-away", reason: "lunch" },
  ops: { type: "ops", ref: "r-ops", room: "#builds" },
  op: { type: "op", ref: "r-op", room: "#builds", user: "ann_0001" },
  deop: { type: "deop", ref: "r-deop", room: "#builds", user: "ann_0001" },
  kick: { type: "kick", ref: "r-kick", room: "#builds", user: "ann_0001", reason: "spam" },
  ban: { type: "ban", ref: "r-ban", user: "ann_0001", duration: 60 },
  unban: { type: "unban", ref: "r-unban", address: "10.0.0.9" },
  mute: { type: "mute", ref: "r-mute", room: "#builds", user: "ann_0001" },
  unmute: { type: "unmute", ref: "r-unmute", user: "ann_0001" },
  bans: { type: "bans", ref: "r-bans", offset: 200 },
  modlog: { type: "modlog", ref: "r-modlog", room: "#builds", before: 7 },
  droproom: { type: "droproom", ref: "r-droproom", room: "#builds", reason: "spam" },
};
/** The rows of moderation, each handled by the moderation owner's method of the same name. */
const MODERATION = [
  "ops",
  "op",
  "deop",
  "kick",
  "ban",
  "unban",
  "mute",
  "unmute",
  "bans",
  "modlog",
  "droproom",
] as const;

/** What the table says of each row, written out. */
const NEEDS_HELLO: { [T in Type]: boolean } = {
  hello: false,
  ping: false,
  bye: false,
  send: true,
  delete: true,
  search: true,
  history: true,
  who: true,
  sessions: true,
  logout_others: true,
  join: true,
  part: true,
  rooms: true,
  topic: true,
  invite: true,
  private: true,
  away: true,
  ops: true,
  op: true,
  deop: true,
  kick: true,
  ban: true,
  unban: true,
  mute: true,
  unmute: true,
  bans: true,
  modlog: true,
  droproom: true,
};
const LIMIT: { [T in Type]?: LimitKind } = {
  ...Object.fromEntries(MODERATION.map((type) => [type, "moderate" as const])),
  send: "send",
  delete: "send",
  search: "search",
  join: "room",
  part: "room",
  topic: "room",
  invite: "room",
  private: "room",
  away: "away",
};

const TYPES = Object.keys(SAMPLES) as Type[];
const tom: User = { id: "tom_0001", name: "tom" };

/** The parts of a hub the table reaches, each recording its calls. */
function fakeHub(options: { allow?: boolean; revoke?: boolean } = {}) {
  const calls: unknown[][] = [];
  const limited: unknown[][] = [];
  const sessions: SessionInfo[] = [
    { id: "aaaaaaaaaaaa", current: false, createdAt: 1, lastSeenAt: 2, address: "10.0.0.1" },
  ];
  const hub = {
    version: "test-version",
    presence: new Presence(),
    away: new Away(),
    now: () => 1_000,
    hello: (...args: unknown[]) => void calls.push(["hello", ...args]),
    messages: {
      send: (...args: unknown[]) => void calls.push(["messages.send", ...args]),
      delete: (...args: unknown[]) => void calls.push(["messages.delete", ...args]),
    },
    histories: {
      search: (...args: unknown[]) => void calls.push(["histories.search", ...args]),
      history: (...args: unknown[]) => void calls.push(["histories.history", ...args]),
    },
    admissions: {
      sessions: (user: User, current?: string) => {
        calls.push(["admissions.sessions", user, current]);
        return sessions.map((s) => ({ ...s, current: s.id === current }));
      },
      logoutOthers: (...args: unknown[]) => {
        calls.push(["admissions.logoutOthers", ...args]);
        return options.revoke ?? true;
      },
    },
    rooms: Object.fromEntries(
      ["join", "part", "list", "topic", "invite", "setPrivate", "who"].map((name) => [
        name,
        (...args: unknown[]) => void calls.push([`rooms.${name}`, ...args]),
      ]),
    ),
    moderation: Object.fromEntries(
      MODERATION.map((name) => [
        name,
        (...args: unknown[]) => void calls.push([`moderation.${name}`, ...args]),
      ]),
    ),
    limiters: {
      allow: (...args: unknown[]) => {
        limited.push(args);
        return options.allow ?? true;
      },
    },
  };
  return { hub, asHub: hub as unknown as Hub, calls, limited };
}

/** The hub's dispatch (its needsHello gate and limits), on the fake. */
function dispatch(asHub: Hub, peer: FakePeer, frame: ClientFrame): void {
  Hub.prototype.handle.call(asHub, peer, frame);
}

/** A fake hub, and tom logged in, whose sample frames of these types were handled in turn. */
function handled(types: readonly Type[]) {
  const { asHub, calls } = fakeHub();
  const peer = loggedIn();
  for (const type of types) HANDLERS[type].handle(asHub, peer, SAMPLES[type] as never, tom);
  return { asHub, calls, peer };
}

function loggedIn(sessionId?: string): FakePeer {
  const peer = new FakePeer("tom", "10.0.0.1");
  peer.user = tom;
  peer.sessionId = sessionId;
  return peer;
}

Deno.test("handlers: one row per client frame type of the schema, and no other", () => {
  const schemaTypes = ClientFrame.options.map((o) => o.shape.type.value).sort();
  assert.deepEqual(Object.keys(HANDLERS).sort(), schemaTypes);
  assert.deepEqual([...TYPES].sort(), schemaTypes);
  for (const type of TYPES) clientFrame(SAMPLES[type]); // every sample is a valid frame
});

Deno.test("handlers: needsHello and the limit of every row are as declared", () => {
  for (const type of TYPES) {
    assert.equal(HANDLERS[type].needsHello, NEEDS_HELLO[type], `${type}: needsHello`);
    assert.equal(HANDLERS[type].limit, LIMIT[type], `${type}: limit`);
  }
});

Deno.test("handlers: before hello, every row that needs one is refused with not_ready and its ref; no owner or limit is asked", () => {
  for (const type of TYPES.filter((t) => NEEDS_HELLO[t])) {
    const { asHub, calls, limited } = fakeHub();
    const peer = new FakePeer("anon");
    dispatch(asHub, peer, SAMPLES[type]);
    assert.deepEqual(calls, [], type);
    assert.deepEqual(limited, [], type);
    const [error] = peer.of("error");
    assert.equal(error?.code, "not_ready", type);
    assert.equal(error?.ref, (SAMPLES[type] as { ref: string }).ref, type);
    assert.match(error.message, /say hello first/);
  }
});

Deno.test("handlers: before hello, hello, ping and bye are served", () => {
  for (const type of TYPES.filter((t) => !NEEDS_HELLO[t])) {
    const { asHub, calls } = fakeHub();
    const peer = new FakePeer("anon");
    dispatch(asHub, peer, SAMPLES[type]);
    assert.equal(peer.of("error").length, 0, type);
    assert.ok(calls.length > 0 || peer.frames.length > 0 || peer.closed, `${type} did something`);
  }
});

Deno.test("handlers: after hello, each row with a limit asks it (kind, user id, ref) first; a refusal stops it there", () => {
  for (const type of TYPES.filter((t) => NEEDS_HELLO[t])) {
    const allowed = fakeHub({ allow: true });
    const peer = loggedIn("s1");
    dispatch(allowed.asHub, peer, SAMPLES[type]);
    const ref = (SAMPLES[type] as { ref: string }).ref;
    const peerArg = (args: unknown[]) => args.filter((a) => !(a instanceof FakePeer));
    assert.deepEqual(
      allowed.limited.map(peerArg),
      LIMIT[type] ? [[LIMIT[type], tom.id, ref]] : [],
      type,
    );
    assert.ok(allowed.calls.length > 0 || peer.frames.length > 0, `${type} was served`);
    if (!LIMIT[type]) continue;
    const refused = fakeHub({ allow: false });
    const limitedPeer = loggedIn("s1");
    dispatch(refused.asHub, limitedPeer, SAMPLES[type]);
    assert.deepEqual(
      [refused.calls, limitedPeer.frames],
      [[], []],
      `${type}: stopped by its limit`,
    );
  }
});

Deno.test("handlers: a peer whose refusal is pending is not heard, whatever it sends", () => {
  for (const type of TYPES) {
    const { asHub, calls, limited } = fakeHub();
    const peer = loggedIn("s1");
    peer.refused = true;
    dispatch(asHub, peer, SAMPLES[type]);
    assert.deepEqual([calls, limited, peer.frames, peer.closed], [[], [], [], undefined], type);
  }
});

Deno.test("handlers: hello goes to the hub's hello with the frame", () => {
  const { asHub, calls } = fakeHub();
  const peer = new FakePeer("anon");
  HANDLERS.hello.handle(asHub, peer, SAMPLES.hello, tom);
  assert.deepEqual(calls, [["hello", peer, SAMPLES.hello]]);
});

Deno.test("handlers: ping is a pong; before hello it names the server's version (chat check)", () => {
  const { asHub } = fakeHub();
  const anon = new FakePeer("anon");
  HANDLERS.ping.handle(asHub, anon, SAMPLES.ping, tom);
  assert.deepEqual(anon.frames, [{ type: "pong", server: { version: "test-version" } }]);
  const peer = loggedIn();
  HANDLERS.ping.handle(asHub, peer, SAMPLES.ping, tom);
  assert.deepEqual(peer.frames, [{ type: "pong" }]);
});

Deno.test("handlers: bye closes the connection with reason bye, saying nothing more", () => {
  const { asHub, calls } = fakeHub();
  const peer = loggedIn();
  HANDLERS.bye.handle(asHub, peer, SAMPLES.bye, tom);
  assert.deepEqual(peer.closed, { reason: "bye", message: "goodbye" });
  assert.deepEqual([peer.frames, calls], [[], []]);
});

Deno.test("handlers: send and delete go to messages (peer, user, frame); search and history to histories (peer, user id, frame)", () => {
  const { calls, peer } = handled(["send", "delete", "search", "history"]);
  assert.deepEqual(calls, [
    ["messages.send", peer, tom, SAMPLES.send],
    ["messages.delete", peer, tom, SAMPLES.delete],
    ["histories.search", peer, tom.id, SAMPLES.search],
    ["histories.history", peer, tom.id, SAMPLES.history],
  ]);
});

Deno.test("handlers: the rows of rooms go to rooms (peer, user, frame); who with a room too", () => {
  const { asHub, calls, peer } = handled(["join", "part", "rooms", "topic", "invite", "private"]);
  HANDLERS.who.handle(asHub, peer, { type: "who", ref: "r-who", room: "#builds" }, tom);
  assert.deepEqual(calls, [
    ["rooms.join", peer, tom, SAMPLES.join],
    ["rooms.part", peer, tom, SAMPLES.part],
    ["rooms.list", peer, tom, SAMPLES.rooms],
    ["rooms.topic", peer, tom, SAMPLES.topic],
    ["rooms.invite", peer, tom, SAMPLES.invite],
    ["rooms.setPrivate", peer, tom, SAMPLES.private],
    ["rooms.who", peer, tom, { ref: "r-who", room: "#builds" }],
  ]);
  assert.deepEqual(peer.frames, []);
});

Deno.test("handlers: the rows of moderation go to moderation (peer, user, frame), each to its method", () => {
  const { calls, peer } = handled(MODERATION);
  assert.deepEqual(
    calls,
    MODERATION.map((type) => [`moderation.${type}`, peer, tom, SAMPLES[type]]),
  );
  assert.deepEqual(peer.frames, []);
});

Deno.test("handlers: who lists presence's users (at most USERS_LIST_LIMIT) and counts everyone online", () => {
  const { hub, asHub } = fakeHub();
  for (let i = 0; i < USERS_LIST_LIMIT + 2; i++) {
    hub.presence.add(new FakePeer(`u${i}`), { id: `u${i}_0001`, name: `u${i}` });
  }
  const peer = loggedIn();
  HANDLERS.who.handle(asHub, peer, SAMPLES.who, tom);
  const [users] = peer.of("users");
  assert.equal(users.ref, "r-who");
  assert.equal(users.online, USERS_LIST_LIMIT + 2);
  assert.equal(users.users.length, USERS_LIST_LIMIT);
  assert.deepEqual(users.users[0], { id: "u0_0001", name: "u0" });
});

Deno.test("handlers: sessions lists the user's sessions, this connection's marked current", () => {
  const { asHub, calls } = fakeHub();
  const peer = loggedIn("aaaaaaaaaaaa");
  HANDLERS.sessions.handle(asHub, peer, SAMPLES.sessions, tom);
  assert.deepEqual(calls, [["admissions.sessions", tom, "aaaaaaaaaaaa"]]);
  const [listed] = peer.of("sessions");
  assert.equal(listed.ref, "r-sessions");
  assert.deepEqual(listed.sessions.map((s) => [s.id, s.current]), [["aaaaaaaaaaaa", true]]);
});

Deno.test("handlers: logout_others revokes every session but this connection's, then lists what is left", () => {
  const { asHub, calls } = fakeHub({ revoke: true });
  const peer = loggedIn("aaaaaaaaaaaa");
  HANDLERS.logout_others.handle(asHub, peer, SAMPLES.logout_others, tom);
  assert.deepEqual(calls, [
    ["admissions.logoutOthers", tom, "aaaaaaaaaaaa", "10.0.0.1"],
    ["admissions.sessions", tom, "aaaaaaaaaaaa"],
  ]);
  assert.deepEqual(peer.frames.map((f) => f.type), ["sessions"]);
  assert.equal(peer.of("sessions")[0].ref, "r-logout");
});

Deno.test("handlers: logout_others that the store cannot carry out is error unavailable, with no list", () => {
  const { asHub } = fakeHub({ revoke: false });
  const peer = loggedIn("aaaaaaaaaaaa");
  HANDLERS.logout_others.handle(asHub, peer, SAMPLES.logout_others, tom);
  assert.equal(peer.frames.length, 1);
  const [error] = peer.of("error");
  assert.deepEqual([error.ref, error.code], ["r-logout", "unavailable"]);
  assert.match(error.message, /could not revoke your other sessions just now/);
});

Deno.test("handlers: logout_others on a connection without a session revokes nothing, and lists", () => {
  const { asHub, calls } = fakeHub();
  const peer = loggedIn(undefined);
  HANDLERS.logout_others.handle(asHub, peer, SAMPLES.logout_others, tom);
  assert.deepEqual(calls, [["admissions.sessions", tom, undefined]]);
  assert.deepEqual(peer.frames.map((f) => f.type), ["sessions"]);
});

Deno.test("handlers: away goes to away (marked with why, on the hub's clock), answered with its ref; who then says it", () => {
  const { hub, asHub } = fakeHub();
  const peer = loggedIn();
  hub.presence.add(peer, tom);
  HANDLERS.away.handle(asHub, peer, SAMPLES.away, tom);
  assert.deepEqual(peer.of("away"), [
    { type: "away", ref: "r-away", user: tom.id, reason: "lunch", since: 1_000 },
  ]);
  HANDLERS.who.handle(asHub, peer, SAMPLES.who, tom);
  assert.deepEqual(peer.of("users")[0].users, [{ ...tom, away: "lunch" }]);
  HANDLERS.away.handle(asHub, peer, { type: "away", ref: "r-back" }, tom);
  assert.deepEqual(peer.of("away")[1], { type: "away", ref: "r-back", user: tom.id });
  assert.equal(hub.away.isAway(tom.id), false);
});
