// The client's hand-written check of server frames (src/protocol/server_frames.ts) against the
// zod schema it mirrors (schema.ts ServerFrame): the same frames taken, the same refused, the
// same output — over valid frames of every type, every field of them dropped, broken or joined by
// an unknown one, and random values.
//
// Run: deno test -A tests/server_frames_test.ts

import assert from "node:assert/strict";
import { fc } from "./deps.ts";
import { ServerFrame } from "../src/protocol/schema.ts";
import { parseServerFrame, SERVER_FRAME_TYPES } from "../src/protocol/server_frames.ts";

const ID = "tom_1234";
const ID2 = "ann.b-c_12345678";
const ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
const ROOM = "#general";
const user = { id: ID, name: "tom" };
const away = { id: ID2, name: "ann", away: "lunch" };
const roomInfo = {
  name: "#Builds",
  topic: "green",
  private: true,
  members: 3,
  online: 1,
  topicBy: ID,
  topicAt: 1700000000000,
};
const message = {
  type: "message",
  id: ULID,
  from: ID,
  room: ROOM,
  text: "hello",
  time: 1700000000000,
  replyTo: ULID,
  quote: { from: ID2, text: "hi" },
  expiresAt: 1700000060000,
  action: true,
  replay: false,
};
const direct = { type: "message", id: ULID, from: ID, to: [ID2, ID], text: "psst", time: 1.5 };
const restriction = {
  kind: "ban",
  room: ROOM,
  user: ID2,
  address: "10.0.0.1",
  by: ID,
  reason: "spam",
  time: 1,
  until: 2,
};

/** Valid frames of every type: with every optional field, and with none. */
const SAMPLES: Record<string, unknown>[] = [
  {
    type: "welcome",
    you: user,
    token: "t",
    users: [user, away],
    online: 2,
    rooms: [roomInfo, { ...roomInfo, topicBy: undefined, topicAt: undefined, name: ROOM }],
    limits: {
      maxFrameBytes: 65536,
      maxTextLength: 4000,
      maxRecipients: 32,
      heartbeatMs: 30000,
      idleTimeoutMs: 90000,
    },
    server: { version: "1.0.0" },
  },
  {
    type: "welcome",
    you: user,
    token: "",
    users: [],
    limits: {
      maxFrameBytes: 1.5,
      maxTextLength: -1,
      maxRecipients: 0,
      heartbeatMs: 1,
      idleTimeoutMs: 2,
    },
    server: { version: "" },
  },
  message,
  direct,
  { ...direct, quote: { deleted: true } },
  { type: "deleted", id: ULID, reason: "deleted", by: ID },
  { type: "deleted", id: ULID, reason: "expired" },
  { type: "presence", room: ROOM, joined: user, left: away, online: 3 },
  { type: "presence", online: 0 },
  { type: "ack", ref: "r1", id: ULID, time: 5 },
  { type: "users", ref: "r", users: [user, away], online: 10, room: ROOM },
  { type: "users", ref: "r".repeat(64), users: [] },
  { type: "results", ref: "r", total: 2, messages: [message, direct] },
  {
    type: "sessions",
    ref: "r",
    sessions: [{ id: "s", current: true, createdAt: 1, lastSeenAt: 2, address: "::1" }],
  },
  { type: "rooms", ref: "r", rooms: [roomInfo], total: 7 },
  { type: "room", ref: "r", event: "topic", room: roomInfo, by: ID, user: ID2 },
  { type: "room", event: "invited", room: roomInfo },
  { type: "away", ref: "r", user: ID, reason: "gone", since: 3 },
  { type: "away", user: ID },
  {
    type: "moderation",
    ref: "r",
    action: "kicked",
    room: ROOM,
    user: ID2,
    address: "10.0.0.0",
    by: ID,
    reason: "why",
    until: 9,
    members: 3,
    online: 2,
  },
  { type: "moderation", action: "dropped", by: ID },
  { type: "ops", ref: "r", server: [ID], room: ROOM, operators: [ID, ID2], creator: ID2 },
  { type: "ops", ref: "r", server: [] },
  { type: "bans", ref: "r", room: ROOM, bans: [restriction], total: 1, offset: 0 },
  { type: "bans", ref: "r", bans: [{ kind: "mute", by: ID, time: 0 }], total: 0, offset: 5 },
  {
    type: "modlog",
    ref: "r",
    room: ROOM,
    entries: [{
      id: 1,
      time: 2,
      action: "deleted",
      by: "admin",
      room: ROOM,
      user: ID,
      address: "1.2.3.4",
      reason: "r",
      until: 3,
      message: ULID,
    }],
    more: true,
  },
  { type: "modlog", ref: "r", entries: [], more: false },
  { type: "error", ref: "r", code: "bad_frame", message: "no" },
  { type: "error", code: "x", message: "" },
  { type: "pong", server: { version: "1" } },
  { type: "pong" },
  { type: "goodbye", reason: "shutdown", message: "bye" },
].map((frame) => JSON.parse(JSON.stringify(frame)));

/** Values put in place of a field: wrong types, edge cases of the strings and numbers checked. */
const ODD: unknown[] = [
  undefined,
  null,
  0,
  -1,
  1.5,
  2 ** 53,
  -(2 ** 53),
  1e300,
  true,
  false,
  "",
  "x",
  "r".repeat(65),
  "#general",
  "#Gen-eral_1",
  "#",
  `#${"a".repeat(33)}`,
  "general",
  ID,
  "tom_123",
  "tom_123456789",
  "tom 1234",
  ULID,
  ULID.toLowerCase(),
  `${ULID}0`,
  "01ARZ3NDEKTSV4RRFFQ69G5FAI",
  "deleted",
  "expired",
  "kicked",
  "ban",
  "mute",
  "joined",
  "nope",
  [],
  [ID],
  [1],
  {},
  { deleted: true },
  { deleted: false },
  { from: ID, text: "t" },
  { version: "1" },
  user,
  roomInfo,
  message,
];

/** Every frame made by changing one place (a path of keys) of `value`. */
function* mutations(value: unknown): Generator<unknown> {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      for (const m of mutations(value[i])) yield value.map((v, j) => (j === i ? m : v));
    }
    yield [...value, value[0] ?? null];
    yield value.slice(1);
    return;
  }
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    yield { ...record, unknownField: 1 };
    for (const key of Object.keys(record)) {
      const { [key]: _, ...without } = record;
      yield without;
      for (const odd of ODD) yield { ...record, [key]: odd };
      for (const m of mutations(record[key])) yield { ...record, [key]: m };
    }
  }
}

function same(value: unknown): void {
  const zod = ServerFrame.safeParse(value);
  const mine = parseServerFrame(value);
  const shown = JSON.stringify(value);
  assert.equal(mine !== undefined, zod.success, `${zod.success ? "refused" : "took"} ${shown}`);
  if (zod.success) assert.deepStrictEqual(mine, zod.data, shown);
}

Deno.test("server frames: the same frame types as the schema", () => {
  const types = ServerFrame.options.map((o) => o.shape.type.value as string);
  assert.deepStrictEqual([...SERVER_FRAME_TYPES].sort(), [...types].sort());
});

Deno.test("server frames: every sample is valid, every type has one", () => {
  for (const frame of SAMPLES) {
    assert.ok(ServerFrame.safeParse(frame).success, JSON.stringify(frame));
    same(frame);
  }
  const sampled = new Set(SAMPLES.map((f) => f.type));
  for (const type of SERVER_FRAME_TYPES) assert.ok(sampled.has(type), `no sample of ${type}`);
});

Deno.test("server frames: each field dropped, broken or joined by another, as zod says", () => {
  let count = 0;
  for (const frame of SAMPLES) {
    for (const changed of mutations(frame)) {
      same(changed);
      count++;
    }
  }
  assert.ok(count > 10_000, `${count} frames`);
});

Deno.test("server frames: values that are not frames at all", () => {
  for (const value of [null, undefined, 1, "message", [], [message], {}, { type: "nope" }]) {
    same(value);
  }
  same({ ...message, type: "Message" });
  same({ ...message, type: "toString" });
  same({ ...message, type: "__proto__" });
});

Deno.test("server frames: random values in every field of every type", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...SAMPLES),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
      fc.boolean(),
      (frame, extra, replace) => {
        // random fields over a sample's, or random values in the sample's fields
        const keys = Object.keys(frame).filter((k) => k !== "type");
        const random = replace
          ? Object.fromEntries(Object.values(extra).map((v, i) => [keys[i % keys.length], v]))
          : extra;
        same({ ...frame, ...random, type: frame.type });
      },
    ),
    { numRuns: 3000 },
  );
});
