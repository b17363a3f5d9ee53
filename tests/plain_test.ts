// Unit tests for src/ui/plain.ts: the line modes' rendering of sessions and connection states.
//
// Run: deno test -A tests/plain_test.ts

import assert from "node:assert/strict";
import type { ClientEvent } from "../src/client/state.ts";
import type { SessionInfo } from "../src/protocol/schema.ts";
import {
  jsonEvent,
  jsonStatus,
  plainLines,
  plainStatus,
  sessionLine,
  sortSessions,
} from "../src/ui/plain.ts";
import { safeJson } from "../src/ui/sanitize.ts";
import { safeEvent, safeStatus } from "../src/ui/safe.ts";
import { dateTime } from "../src/ui/time.ts";

/** Local time, so the expectations hold in any time zone. */
const T1 = new Date(2025, 0, 2, 9, 5, 7).getTime();
const T2 = new Date(2025, 0, 3, 18, 30, 0).getTime();
const T3 = new Date(2025, 0, 4, 7, 0, 59).getTime();

/** alice's "hi" at T1, in the room typed in. */
const hi = {
  type: "message" as const,
  id: "01JABCDEFGHJKMNPQRSTVWXYZ0",
  ref: "q3sf",
  from: "alice_1111",
  text: "hi",
  time: T1,
};

const here: SessionInfo = {
  id: "s-here",
  current: true,
  createdAt: T1,
  lastSeenAt: T1,
  address: "127.0.0.1",
};
const laptop: SessionInfo = {
  id: "s-laptop",
  current: false,
  createdAt: T1,
  lastSeenAt: T2,
  address: "10.0.0.2",
};
const phone: SessionInfo = {
  id: "s-phone",
  current: false,
  createdAt: T2,
  lastSeenAt: T3,
  address: "::1",
};

const listed = (sessions: SessionInfo[], loggedOutOthers = false): ClientEvent => ({
  type: "sessions",
  sessions,
  loggedOutOthers,
});

// deno-lint-ignore no-control-regex -- looking for control characters is the point
const CONTROL = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

Deno.test("dateTime: local date and time; an impossible time is 'unknown', not a crash", () => {
  assert.equal(dateTime(T1), "2025-01-02 09:05:07");
  assert.equal(dateTime(8.64e15 + 1), "unknown");
  assert.equal(dateTime(Number.NaN), "unknown");
});

Deno.test("sortSessions: this device first, then the most recently seen", () => {
  assert.deepEqual(sortSessions([laptop, here, phone]).map((s) => s.id), [
    "s-here",
    "s-phone",
    "s-laptop",
  ]);
});

Deno.test("plain: /sessions lists each session with when it was created, last seen, from where", () => {
  assert.deepEqual(plainLines(listed([laptop, here, phone])), [
    "* your sessions (3); /logout-others signs out all but this one:",
    "  [s-here] created 2025-01-02 09:05:07 · last seen 2025-01-02 09:05:07 · from 127.0.0.1 · this device",
    "  [s-phone] created 2025-01-03 18:30:00 · last seen 2025-01-04 07:00:59 · from ::1",
    "  [s-laptop] created 2025-01-02 09:05:07 · last seen 2025-01-03 18:30:00 · from 10.0.0.2",
  ]);
});

Deno.test("plain: /logout-others says the others were signed out and lists what is left", () => {
  assert.deepEqual(plainLines(listed([here], true)), [
    "* signed out every other session; 1 left:",
    "  [s-here] created 2025-01-02 09:05:07 · last seen 2025-01-02 09:05:07 · from 127.0.0.1 · this device",
  ]);
});

Deno.test("plain: a hostile server's session id and address reach the terminal made safe", () => {
  const hostile = { ...laptop, id: "x\x1b]0;pwned\x07\u202e", address: "1.2.3.4\x1b[2J\x9b31m\n" };
  // as plain mode gets it: through the boundary (ui/safe.ts)
  const safe = safeEvent(listed([hostile]));
  const evil = safe.type === "sessions" ? safe.sessions[0] : hostile;
  const lines = plainLines(safe);
  for (const line of lines) assert.doesNotMatch(line, CONTROL, JSON.stringify(line));
  assert.ok(!lines.join("").includes("pwned"));
  assert.match(sessionLine(evil), /^\[x\] created .* from 1\.2\.3\.4 ?$/);
});

Deno.test("json: sessions as objects, sorted, with loggedOutOthers; safe to print", () => {
  const event = jsonEvent(listed([laptop, here], true), () => []);
  assert.deepEqual(event, {
    type: "sessions",
    sessions: [here, laptop],
    loggedOutOthers: true,
  });
  const evil = { ...laptop, address: "a\u202eb\x9b2J" };
  const line = safeJson(jsonEvent(listed([evil]), () => []));
  assert.doesNotMatch(line, CONTROL);
  assert.equal(JSON.parse(line).sessions[0].address, evil.address);
});

Deno.test("status: a reconnect notice carries the last attempt's reason (plain and json)", () => {
  const now = 1_000_000;
  const first = { state: "reconnecting" as const, retryAt: now + 2_000, attempt: 1 };
  assert.equal(plainStatus(first, now), "* connection lost; reconnecting in 2 s (attempt 1)");
  assert.deepEqual(jsonStatus(first), {
    type: "status",
    state: "reconnecting",
    retryAt: now + 2_000,
    attempt: 1,
  });
  const reason = "cannot connect to h:1: the server closed the connection during the TLS handshake";
  const later = { ...first, attempt: 2, reason: `${reason}\x1b[2J` };
  assert.equal(
    plainStatus(safeStatus(later), now), // as plain mode gets it: through the boundary
    `* connection lost; reconnecting in 2 s (attempt 2); the last attempt failed: ${reason}`,
  );
  assert.equal(jsonStatus(later).reason, later.reason);
  assert.equal(plainStatus({ state: "connected" }), "* connected");
  assert.deepEqual(jsonStatus({ state: "offline" }), { type: "status", state: "offline" });
});

Deno.test("plain: refs are written #ref, as the full-screen UI writes them", () => {
  const message = {
    ...hi,
    replyTo: "01JABCDEFGHJKMNPQRSTVWXYZ1",
    replyRef: "ab12",
    quote: { from: "bob_2222", text: "question" },
  };
  const lines = plainLines({ type: "message", message });
  assert.deepEqual(lines, ["  > #ab12 bob_2222: question", "#q3sf 09:05:07 alice_1111: hi"]);
  assert.deepEqual(
    plainLines({ type: "deleted", id: message.id, ref: "q3sf", reason: "deleted" }),
    [
      "* message #q3sf was deleted",
    ],
  );
});

// ---- rooms ------------------------------------------------------------------------------------

const builds = { name: "#builds", topic: "green", private: false, members: 3, online: 2 };

Deno.test("plain: a message of a room other than the one typed in names it; a DM never has one", () => {
  const message = { ...hi, room: "#builds" };
  assert.deepEqual(plainLines({ type: "message", message }), [
    "#q3sf 09:05:07 alice_1111 in #builds: hi",
  ]);
  assert.deepEqual(plainLines({ type: "message", message }, "#builds"), [
    "#q3sf 09:05:07 alice_1111: hi",
  ]);
  const json = jsonEvent({ type: "message", message }, () => []);
  assert.equal(json?.room, "#builds");
  const { room: _, ...direct } = message;
  const dm = jsonEvent({ type: "message", message: { ...direct, to: ["bob_2222"] } }, () => []);
  assert.equal(dm?.room, null, "a direct message's room is null in --json");
});

Deno.test("plain: rooms — joined, left, topics, privacy, invitations, the list, a room's presence", () => {
  const alice = { id: "alice_1111", name: "alice" };
  const lines = ([
    { type: "room", event: "joined", room: builds, here: "#builds" },
    { type: "room", event: "parted", room: builds, here: "#general" },
    { type: "room", event: "parted", room: builds, notAsked: true },
    { type: "room", event: "topic", room: builds, by: "alice_1111" },
    { type: "room", event: "topic", room: { ...builds, topic: "" }, by: "alice_1111" },
    { type: "room", event: "private", room: { ...builds, private: true }, by: "alice_1111" },
    {
      type: "room",
      event: "invited",
      room: builds,
      by: "alice_1111",
      user: "tom_0001",
      toMe: true,
    },
    { type: "room", event: "invited", room: builds, by: "tom_0001", user: "bob_2222" },
    { type: "rooms", rooms: [builds, { ...builds, name: "#general", topic: "" }], total: 3 },
    { type: "presence", room: "#builds", joined: alice, online: 3 },
    { type: "presence", room: "#builds", left: alice, online: 2 },
    { type: "presence", room: "#builds", online: 250 },
    { type: "users", users: [alice], online: 1, room: "#builds" },
  ] as ClientEvent[]).flatMap((e) => plainLines(e));
  assert.deepEqual(lines, [
    "* you joined #builds (3 members, 2 online): green; what you type goes to #builds",
    "* you left #builds; what you type goes to #general",
    "* you are no longer in #builds",
    "* alice_1111 set the topic of #builds: green",
    "* alice_1111 cleared the topic of #builds",
    "* alice_1111 made #builds invite-only",
    "* alice_1111 invited you to #builds: /join #builds to go in",
    "* tom_0001 invited bob_2222 to #builds",
    "* rooms (3, 2 shown): /join #name to go in",
    "  #builds (3 members, 2 online): green",
    "  #general (3 members, 2 online)",
    "* alice_1111 joined #builds (3 online)",
    "* alice_1111 left #builds (2 online)",
    "* #builds: 250 online",
    "* online in #builds (1): alice_1111",
  ]);
});

Deno.test("json: room events and the list as objects; a room's presence without the server's users", () => {
  assert.deepEqual(
    jsonEvent({ type: "room", event: "topic", room: builds, by: "alice_1111" }, () => []),
    { type: "room", event: "topic", room: builds, by: "alice_1111" },
  );
  assert.deepEqual(jsonEvent({ type: "rooms", rooms: [builds], total: 1 }, () => []), {
    type: "rooms",
    rooms: [builds],
    total: 1,
  });
  const presence = jsonEvent({ type: "presence", room: "#builds", online: 2 }, () => {
    throw new Error("not asked");
  });
  assert.deepEqual(presence, { type: "presence", room: "#builds", online: 2 });
});

// ---- moderation --------------------------------------------------------------------------------

Deno.test("plain: a moderation event is one line saying who did what to whom, where and why; to its target, 'you'", () => {
  const kick = { type: "moderation" as const, action: "kicked" as const, by: "alice_1111" };
  const event: ClientEvent = { ...kick, room: "#ops", user: "bob_2222", reason: "spam" };
  assert.deepEqual(plainLines(event), ["* bob_2222 was kicked from #ops by alice_1111: spam"]);
  assert.deepEqual(plainLines({ ...event, toMe: true, here: "#general" }), [
    "* you were kicked from #ops by alice_1111: spam; what you type goes to #general",
  ]);
  const ban: ClientEvent = {
    type: "moderation",
    action: "banned",
    by: "alice_1111",
    user: "bob_2222",
    address: "10.0.0.2",
    until: T2,
  };
  assert.deepEqual(plainLines(ban), [
    `* bob_2222 (and the address 10.0.0.2) was banned from the server by alice_1111 until ${
      dateTime(T2)
    }`,
  ]);
  assert.match(
    plainLines({
      type: "moderation",
      action: "muted",
      by: "a_1111",
      room: "#ops",
      user: "b_2222",
    })[0],
    /b_2222 was muted in #ops by a_1111; they may read, not send/,
  );
  // JSON: as the server sent it, nothing it left out
  assert.deepEqual(jsonEvent({ ...event, toMe: true }, () => []), {
    type: "moderation",
    action: "kicked",
    by: "alice_1111",
    room: "#ops",
    user: "bob_2222",
    reason: "spam",
    toMe: true,
  });
  // an operator's deletion names them
  assert.deepEqual(
    plainLines({ type: "deleted", id: "x", ref: "q3sf", reason: "deleted", by: "a_1" }),
    [
      "* message #q3sf was deleted by a_1",
    ],
  );
});

Deno.test("plain: /ops, /bans and /modlog as lines, with how to see more", () => {
  assert.deepEqual(
    plainLines({
      type: "ops",
      server: [],
      room: "#ops",
      operators: ["a_1111", "b_2222"],
      creator: "a_1111",
    }),
    ["* server operators: none", "* operators of #ops: a_1111 (made it), b_2222"],
  );
  const bans = plainLines({
    type: "bans",
    room: "#ops",
    bans: [{ kind: "ban", room: "#ops", user: "b_2222", by: "a_1111", time: T1, reason: "x" }],
    total: 3,
    offset: 0,
  });
  assert.deepEqual(bans, [
    "* bans and mutes in force on #ops (3, 1–1 shown)",
    `  ban b_2222 by a_1111 since ${dateTime(T1)} until lifted: x`,
    "  more: /bans #ops 1",
  ]);
  const log = plainLines({
    type: "modlog",
    entries: [{ id: 9, time: T1, action: "opped", by: "admin", user: "a_1111" }],
    more: true,
  });
  assert.deepEqual(log, [
    "* moderation log of the server, newest first:",
    `  [9] ${dateTime(T1)} a_1111 was made an operator of the server by admin`,
    "  more: /modlog --server 9",
  ]);
});

Deno.test("safe: a moderation event's reason, and every string of the lists, is made safe", () => {
  const evil = "spam\u001b[2J\u202e";
  const safe = safeEvent({
    type: "moderation",
    action: "kicked",
    by: "a_1",
    room: "#x",
    user: "b_2",
    reason: evil,
  });
  assert.ok(safe.type === "moderation" && !CONTROL.test(safe.reason!));
  const bans = safeEvent({
    type: "bans",
    bans: [{ kind: "mute", user: "b_2", by: "a_1", time: T1, reason: evil }],
    total: 1,
    offset: 0,
  });
  assert.ok(bans.type === "bans" && !CONTROL.test(bans.bans[0].reason!));
  const log = safeEvent({
    type: "modlog",
    entries: [{ id: 1, time: T1, action: "kicked", by: "a_1", reason: evil }],
    more: false,
  });
  assert.ok(log.type === "modlog" && !CONTROL.test(log.entries[0].reason!));
});

Deno.test("plain: a removed room is one line, with who removed it and why; where typing goes now when it was there", () => {
  const dropped: ClientEvent = {
    type: "moderation",
    action: "dropped",
    room: "#spam",
    by: "alice_1234",
    reason: "spam",
  };
  assert.deepEqual(plainLines(dropped), ["* #spam was removed by alice_1234: spam"]);
  assert.deepEqual(plainLines({ ...dropped, reason: undefined, here: "#general" }), [
    "* #spam was removed by alice_1234; what you type goes to #general",
  ]);
});
