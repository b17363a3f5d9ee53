/**
 * The client's check of a server → client frame, without zod: the same rules as schema.ts's
 * `ServerFrame` (which the server and the tests use), written out by hand, because zod alone is
 * about 9 MB of a client's memory and the largest part of the CPU it spends on a frame.
 * tests/server_frames_test.ts runs both over valid frames and thousands of broken ones and holds
 * them to the same answers and the same output, so schema.ts stays the one definition.
 *
 * As zod's default "strip" mode: an object's unknown fields are dropped (a newer server's extras
 * never reach the client's state); what is checked is given back as new objects and arrays.
 */
import type { ServerFrame } from "./schema.ts";
import { ID_PATTERN, MAX_REF_LENGTH, ROOM_PATTERN, ULID_PATTERN } from "./rules.ts";

/** What a check gives back for a value it refuses. */
const BAD: unique symbol = Symbol("bad");
type Check = (value: unknown) => unknown;
interface Field {
  check: Check;
  optional: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const str = (rule?: { min?: number; max?: number; pattern?: RegExp }): Check => (v) =>
  typeof v === "string" &&
    (rule?.min === undefined || v.length >= rule.min) &&
    (rule?.max === undefined || v.length <= rule.max) &&
    (rule?.pattern === undefined || rule.pattern.test(v))
    ? v
    : BAD;
/** zod's z.number(): finite; `.int()`: a safe integer. */
const num: Check = (v) => typeof v === "number" && Number.isFinite(v) ? v : BAD;
const int: Check = (v) => Number.isSafeInteger(v) ? v : BAD;
const bool: Check = (v) => typeof v === "boolean" ? v : BAD;
const literal = (value: unknown): Check => (v) => v === value ? v : BAD;
const oneOf = (values: readonly string[]): Check => (v) =>
  typeof v === "string" && values.includes(v) ? v : BAD;
const array = (item: Check): Check => (v) => {
  if (!Array.isArray(v)) return BAD;
  const out = new Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const checked = item(v[i]);
    if (checked === BAD) return BAD;
    out[i] = checked;
  }
  return out;
};
/** The first of `checks` that takes the value (zod's z.union). */
const either = (...checks: Check[]): Check => (v) => {
  for (const check of checks) {
    const checked = check(v);
    if (checked !== BAD) return checked;
  }
  return BAD;
};

const opt = (check: Check): Field => ({ check, optional: true });
type Shape = Record<string, Check | Field>;

/** An object of these fields, the unknown ones dropped; an optional one may be absent. */
const object = (shape: Shape): Check => {
  const fields = Object.entries(shape).map(([key, f]): [string, Field] => [
    key,
    typeof f === "function" ? { check: f, optional: false } : f,
  ]);
  return (v) => {
    if (!isObject(v)) return BAD;
    const out: Record<string, unknown> = {};
    for (const [key, field] of fields) {
      const value = v[key];
      if (value === undefined && field.optional) {
        // as zod: a key given as undefined stays (JSON never gives one)
        if (key in v) out[key] = undefined;
        continue;
      }
      const checked = field.check(value);
      if (checked === BAD) return BAD;
      out[key] = checked;
    }
    return out;
  };
};

// ---- the pieces of schema.ts, by the same names -------------------------------------------------

const UserId = str({ pattern: ID_PATTERN });
const MessageId = str({ pattern: ULID_PATTERN });
const Ref = str({ min: 1, max: MAX_REF_LENGTH });
const Room = str({ pattern: ROOM_PATTERN });
/**
 * What an operator did (`deleted`: someone else's message, in the moderation log only;
 * `dropped`: the room was removed, told to its members online). Kept here, where the client
 * reads it without zod; schema.ts builds its enums on it.
 */
export const MODERATION_ACTIONS = [
  "kicked",
  "banned",
  "unbanned",
  "muted",
  "unmuted",
  "opped",
  "deopped",
  "deleted",
  "dropped",
] as const;
const action = oneOf(MODERATION_ACTIONS);

const User = object({ id: UserId, name: str(), away: opt(str()) });
const Limits = object({
  maxFrameBytes: num,
  maxTextLength: num,
  maxRecipients: num,
  heartbeatMs: num,
  idleTimeoutMs: num,
});
const RoomInfo = object({
  name: Room,
  topic: str(),
  private: bool,
  members: int,
  online: int,
  topicBy: opt(UserId),
  topicAt: opt(num),
});
const Message = object({
  type: literal("message"),
  id: MessageId,
  from: UserId,
  room: opt(Room),
  to: opt(array(UserId)),
  text: str(),
  time: num,
  replyTo: opt(MessageId),
  quote: opt(either(
    object({ from: UserId, text: str() }),
    object({ deleted: literal(true) }),
  )),
  expiresAt: opt(num),
  action: opt(literal(true)),
  replay: opt(bool),
});
const SessionInfo = object({
  id: str(),
  current: bool,
  createdAt: num,
  lastSeenAt: num,
  address: str(),
});
const Restriction = object({
  kind: oneOf(["ban", "mute"]),
  room: opt(Room),
  user: opt(UserId),
  address: opt(str()),
  by: UserId,
  reason: opt(str()),
  time: num,
  until: opt(num),
});
const ModlogEntry = object({
  id: int,
  time: num,
  action,
  by: str(),
  room: opt(Room),
  user: opt(UserId),
  address: opt(str()),
  reason: opt(str()),
  until: opt(num),
  message: opt(MessageId),
});
const Version = object({ version: str() });

/** Each frame's check by its `type` (zod's z.discriminatedUnion over the same list). */
const FRAMES: Record<string, Check> = {
  welcome: object({
    type: literal("welcome"),
    you: User,
    token: str(),
    users: array(User),
    online: opt(int),
    rooms: opt(array(RoomInfo)),
    limits: Limits,
    server: Version,
  }),
  message: Message,
  deleted: object({
    type: literal("deleted"),
    id: MessageId,
    reason: oneOf(["deleted", "expired"]),
    by: opt(UserId),
  }),
  presence: object({
    type: literal("presence"),
    room: opt(Room),
    joined: opt(User),
    left: opt(User),
    online: int,
  }),
  ack: object({ type: literal("ack"), ref: Ref, id: MessageId, time: num }),
  users: object({
    type: literal("users"),
    ref: Ref,
    users: array(User),
    online: opt(int),
    room: opt(Room),
  }),
  results: object({ type: literal("results"), ref: Ref, total: int, messages: array(Message) }),
  sessions: object({ type: literal("sessions"), ref: Ref, sessions: array(SessionInfo) }),
  rooms: object({ type: literal("rooms"), ref: Ref, rooms: array(RoomInfo), total: int }),
  room: object({
    type: literal("room"),
    ref: opt(Ref),
    event: oneOf(["joined", "parted", "topic", "private", "invited"]),
    room: RoomInfo,
    by: opt(UserId),
    user: opt(UserId),
  }),
  away: object({
    type: literal("away"),
    ref: opt(Ref),
    user: UserId,
    reason: opt(str()),
    since: opt(num),
  }),
  moderation: object({
    type: literal("moderation"),
    ref: opt(Ref),
    action,
    room: opt(Room),
    user: opt(UserId),
    address: opt(str()),
    by: UserId,
    reason: opt(str()),
    until: opt(num),
    members: opt(int),
    online: opt(int),
  }),
  ops: object({
    type: literal("ops"),
    ref: Ref,
    server: array(UserId),
    room: opt(Room),
    operators: opt(array(UserId)),
    creator: opt(UserId),
  }),
  bans: object({
    type: literal("bans"),
    ref: Ref,
    room: opt(Room),
    bans: array(Restriction),
    total: int,
    offset: int,
  }),
  modlog: object({
    type: literal("modlog"),
    ref: Ref,
    room: opt(Room),
    entries: array(ModlogEntry),
    more: bool,
  }),
  error: object({ type: literal("error"), ref: opt(Ref), code: str(), message: str() }),
  pong: object({ type: literal("pong"), server: opt(Version) }),
  goodbye: object({ type: literal("goodbye"), reason: str(), message: str() }),
};

/** The frame types checked here (the test holds them to ServerFrame's). */
export const SERVER_FRAME_TYPES: readonly string[] = Object.keys(FRAMES);

/** A server frame as schema.ts's `ServerFrame.safeParse` reads it, or undefined when it refuses it. */
export function parseServerFrame(value: unknown): ServerFrame | undefined {
  if (!isObject(value) || typeof value.type !== "string" || !Object.hasOwn(FRAMES, value.type)) {
    return undefined;
  }
  const checked = FRAMES[value.type](value);
  return checked === BAD ? undefined : checked as ServerFrame;
}
