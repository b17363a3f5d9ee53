/**
 * Every frame of the protocol, both directions, as zod schemas. The TypeScript types are
 * inferred from here, so the wire format and the code cannot drift apart. docs/PROTOCOL.md
 * describes the same frames for people.
 *
 * Objects are parsed in zod's default "strip" mode: a field a client must not set (say `from`
 * or `time` on `send`) is dropped, never trusted.
 */
import { z } from "zod";
import {
  awayProblem,
  ID_PATTERN,
  MAX_ADDRESS_LENGTH,
  MAX_HISTORY_LIMIT,
  MAX_MODERATION_SECONDS,
  MAX_PATTERN_LENGTH,
  MAX_RECIPIENTS,
  MAX_REF_LENGTH,
  MAX_TEXT_LENGTH,
  MAX_TTL_SECONDS,
  MIN_MODERATION_SECONDS,
  MIN_TTL_SECONDS,
  nameProblem,
  reasonProblem,
  ROOM_NAME_RULE,
  ROOM_PATTERN,
  topicProblem,
  ULID_PATTERN,
} from "./rules.ts";
import { MODERATION_ACTIONS } from "./server_frames.ts";

export * from "./rules.ts";
export { MODERATION_ACTIONS };

export const Name = z.string().refine((s) => nameProblem(s) === null, {
  message: "invalid name",
});
export const UserId = z.string().regex(ID_PATTERN);
export const MessageId = z.string().regex(ULID_PATTERN);
export const Ref = z.string().min(1).max(MAX_REF_LENGTH);
/** A frame of `type` that carries a `ref`: a request, or the answer that gives its ref back. */
const withRef = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.object({ type: z.literal(type), ref: Ref, ...shape });
/**
 * A recipient as typed: an exact id, or a bare name that the server resolves among those online.
 * As long as the longest id: a 24-character name, '_' and 8 digits.
 */
export const Recipient = z.string().regex(/^[A-Za-z0-9._-]{1,33}$/);

export const User = z.object({
  id: UserId,
  name: z.string(),
  /** Set in `who` lists (and the welcome's) while the user is away: why. */
  away: z.string().optional(),
});
export type User = z.infer<typeof User>;
/** A room name, read in its one spelling (lower-case). */
export const RoomName = z.string().regex(ROOM_PATTERN, ROOM_NAME_RULE).transform((s) =>
  s.toLowerCase()
);
/** A string `problem` finds nothing wrong with (its sentence, when it does). */
const checked = (problem: (s: string) => string | null) =>
  z.string().superRefine((s, context) => {
    const found = problem(s);
    if (found !== null) context.addIssue({ code: "custom", message: found });
  });
export const Topic = checked(topicProblem);
export const AwayReason = checked(awayProblem).refine((s) => s.length > 0, {
  message: "an away reason is not empty (send none to be back)",
});

export const Reason = checked(reasonProblem).refine((s) => s.length > 0, {
  message: "a reason is not empty (send none for no reason)",
});
/** How long a ban or mute lasts, seconds (absent: until lifted). */
export const Duration = z.number().int().min(MIN_MODERATION_SECONDS).max(MAX_MODERATION_SECONDS);
/**
 * An address a server-wide ban names: an IPv4 or IPv6 address (an IPv6 one stands for its /64),
 * or a /64 as `/bans` lists it. Its form is checked again on the server (address.ts).
 */
export const Address = z.string().min(2).max(MAX_ADDRESS_LENGTH).regex(/^[0-9A-Fa-f:.]+(\/64)?$/);

// ---- client → server -------------------------------------------------------------------------

export const Hello = z.object({
  type: z.literal("hello"),
  name: Name,
  token: z.string().min(1).max(128).optional(),
  password: z.string().max(1024).optional(),
  /** Id of the last message this client saw; the server replays what came after. */
  resume: MessageId.optional(),
});
export type Hello = z.infer<typeof Hello>;
export const Send = withRef("send", {
  to: z.array(Recipient).min(1).max(MAX_RECIPIENTS).optional(),
  text: z.string().min(1).max(MAX_TEXT_LENGTH),
  replyTo: MessageId.optional(),
  /** Lifetime in seconds for a temporary message. */
  ttl: z.number().int().min(MIN_TTL_SECONDS).max(MAX_TTL_SECONDS).optional(),
  /** Set on a re-send after a reconnect: the server looks the ref up before anything else. */
  retry: z.boolean().optional(),
  /** The room of a public message (default GENERAL_ROOM); a reply goes to its original's. */
  room: RoomName.optional(),
  /** An action (`/me waves`): shown as `* tom waves`. */
  action: z.boolean().optional(),
});
export type Send = z.infer<typeof Send>;
export const Delete = withRef("delete", { id: MessageId });
export type Delete = z.infer<typeof Delete>;
export const Search = withRef("search", {
  pattern: z.string().min(1).max(MAX_PATTERN_LENGTH),
  /** Only in this room (else everything the user may see). */
  room: RoomName.optional(),
});
export type Search = z.infer<typeof Search>;
/** Who is online; with `room`, who of that room's members is. */
export const Who = withRef("who", { room: RoomName.optional() });
export const History = withRef("history", {
  before: MessageId.optional(),
  limit: z.number().int().min(1).max(MAX_HISTORY_LIMIT),
  /** Only this room's messages (else everything the user may see). */
  room: RoomName.optional(),
});
export type History = z.infer<typeof History>;
/** Lists the sessions (devices holding a token) of the user on this connection. */
export const ListSessions = withRef("sessions", {});
/** Revokes every other session of this user: their tokens stop working, their connections end. */
export const LogoutOthers = withRef("logout_others", {});
/** Joins a room, creating it (invite-only with `private`) when there is none of that name. */
export const Join = withRef("join", { room: RoomName, private: z.boolean().optional() });
export type Join = z.infer<typeof Join>;
export const Part = withRef("part", { room: RoomName });
export type Part = z.infer<typeof Part>;
/** The public rooms and this user's own, by name, from after `after`. */
export const ListRooms = withRef("rooms", { after: RoomName.optional() });
export type ListRooms = z.infer<typeof ListRooms>;
/** Sets a room's topic (empty: none). */
export const SetTopic = withRef("topic", { room: RoomName, topic: Topic });
export type SetTopic = z.infer<typeof SetTopic>;
/** Lets a user into an invite-only room (and tells them, when online). */
export const Invite = withRef("invite", {
  room: RoomName,
  /** An id, or a name one user online has (as in `send`'s `to`). */
  user: Recipient,
});
export type Invite = z.infer<typeof Invite>;
/** Makes a room invite-only, or public again (its operators only). */
export const SetPrivate = withRef("private", { room: RoomName, private: z.boolean() });
export type SetPrivate = z.infer<typeof SetPrivate>;
/** Marks this user away (with why), or back (no `reason`). */
export const SetAway = withRef("away", { reason: AwayReason.optional() });
export type SetAway = z.infer<typeof SetAway>;
/**
 * The server's operators, and with `room` that room's operators too (a room one is in). Anyone
 * may ask.
 */
export const ListOps = withRef("ops", { room: RoomName.optional() });
export type ListOps = z.infer<typeof ListOps>;
/** Makes a member of a room one of its operators (its operators only). */
export const Op = withRef("op", { room: RoomName, user: Recipient });
export type Op = z.infer<typeof Op>;
/** Takes that back (its operators only; never from the room's creator). */
export const Deop = withRef("deop", { room: RoomName, user: Recipient });
export type Deop = z.infer<typeof Deop>;
/** Puts a member out of a room (its operators only); they may join again. */
export const Kick = withRef("kick", { room: RoomName, user: Recipient, reason: Reason.optional() });
export type Kick = z.infer<typeof Kick>;
/**
 * Bans a user from a room (its operators), or without `room` from the whole server (server
 * operators only): by id (`user`, with `withAddress` also the address they connect from) or by
 * `address` alone (server-wide only).
 */
export const Ban = withRef("ban", {
  room: RoomName.optional(),
  user: Recipient.optional(),
  address: Address.optional(),
  withAddress: z.boolean().optional(),
  duration: Duration.optional(),
  reason: Reason.optional(),
}).refine((f) => (f.user === undefined) !== (f.address === undefined), {
  message: "a ban names a user or an address, one of them",
}).refine((f) => f.room === undefined || (f.address === undefined && !f.withAddress), {
  message: "only a server-wide ban may name an address",
});
export type Ban = z.infer<typeof Ban>;
/** Lifts a ban (as `ban` names it). */
export const Unban = withRef("unban", {
  room: RoomName.optional(),
  user: Recipient.optional(),
  address: Address.optional(),
}).refine((f) => (f.user === undefined) !== (f.address === undefined), {
  message: "an unban names a user or an address, one of them",
}).refine((f) => f.room === undefined || f.address === undefined, {
  message: "only a server-wide ban may name an address",
});
export type Unban = z.infer<typeof Unban>;
/** Mutes a user in a room (its operators), or everywhere (server operators): they read, not send. */
export const Mute = withRef("mute", {
  room: RoomName.optional(),
  user: Recipient,
  duration: Duration.optional(),
  reason: Reason.optional(),
});
export type Mute = z.infer<typeof Mute>;
export const Unmute = withRef("unmute", { room: RoomName.optional(), user: Recipient });
export type Unmute = z.infer<typeof Unmute>;
/** The bans and mutes of a room (its operators), or of the server (server operators). */
export const ListBans = withRef("bans", {
  room: RoomName.optional(),
  /** How many to skip (the list is newest first). */
  offset: z.number().int().min(0).max(1_000_000).optional(),
});
export type ListBans = z.infer<typeof ListBans>;
/**
 * The moderation log of a room (its operators), or of the whole server (server operators): newest
 * first, from before entry `before`.
 */
export const ListModlog = withRef("modlog", {
  room: RoomName.optional(),
  before: z.number().int().min(1).optional(),
});
export type ListModlog = z.infer<typeof ListModlog>;
/**
 * Removes a room (server operators only; never GENERAL_ROOM): its members, operators,
 * invitations, bans and mutes, and its messages go, and its name is free again (ergo's
 * `/CS DROP`).
 */
export const DropRoom = withRef("droproom", { room: RoomName, reason: Reason.optional() });
export type DropRoom = z.infer<typeof DropRoom>;
export const Ping = z.object({ type: z.literal("ping") });
export const Bye = z.object({ type: z.literal("bye") });

export const ClientFrame = z.discriminatedUnion("type", [
  Hello,
  Send,
  Delete,
  Search,
  Who,
  History,
  ListSessions,
  LogoutOthers,
  Join,
  Part,
  ListRooms,
  SetTopic,
  Invite,
  SetPrivate,
  SetAway,
  ListOps,
  Op,
  Deop,
  Kick,
  Ban,
  Unban,
  Mute,
  Unmute,
  ListBans,
  ListModlog,
  DropRoom,
  Ping,
  Bye,
]);
export type ClientFrame = z.infer<typeof ClientFrame>;

// ---- server → client -------------------------------------------------------------------------

/** A room's name as the server sends it (in its one spelling already). */
const Room = z.string().regex(ROOM_PATTERN);

export const Limits = z.object({
  maxFrameBytes: z.number(),
  maxTextLength: z.number(),
  maxRecipients: z.number(),
  heartbeatMs: z.number(),
  idleTimeoutMs: z.number(),
});
export type Limits = z.infer<typeof Limits>;

/** A room as its members (and, for a public one, everyone) see it. */
export const RoomInfo = z.object({
  name: Room,
  topic: z.string(),
  /** Invite-only: unseen by anyone not in it. */
  private: z.boolean(),
  /** How many are in it, and how many of them are online. */
  members: z.number().int(),
  online: z.number().int(),
  /** Who set the topic, and when. */
  topicBy: UserId.optional(),
  topicAt: z.number().optional(),
});
export type RoomInfo = z.infer<typeof RoomInfo>;

export const Message = z.object({
  type: z.literal("message"),
  id: MessageId,
  from: UserId,
  /** The room of a public message; absent for a direct message. */
  room: Room.optional(),
  /** Recipients of a direct message (the sender not included); absent for a public message. */
  to: z.array(UserId).optional(),
  text: z.string(),
  time: z.number(),
  replyTo: MessageId.optional(),
  /** For a reply: the original's author and first line, or `{deleted: true}` once it is gone. */
  quote: z.union([
    z.object({ from: UserId, text: z.string() }),
    z.object({ deleted: z.literal(true) }),
  ]).optional(),
  expiresAt: z.number().optional(),
  /** An action (`/me waves`): shown as `* tom waves`. */
  action: z.literal(true).optional(),
  /** True when sent as history or replay, not live. */
  replay: z.boolean().optional(),
});
export type Message = z.infer<typeof Message>;

export const Welcome = z.object({
  type: z.literal("welcome"),
  you: User,
  token: z.string(),
  /** Who is online (the first of them, in a large room: see `online`). */
  users: z.array(User),
  /** How many are online in all. */
  online: z.number().int().optional(),
  /** The rooms this user is in. */
  rooms: z.array(RoomInfo).optional(),
  limits: Limits,
  server: z.object({ version: z.string() }),
});
export type Welcome = z.infer<typeof Welcome>;
export const Deleted = z.object({
  type: z.literal("deleted"),
  id: MessageId,
  reason: z.enum(["deleted", "expired"]),
  /** An operator of its room who deleted someone else's message. */
  by: UserId.optional(),
});
/**
 * Someone came online or left (no `room`), or joined or parted `room` (sent to its members, with
 * `online` its members online).
 */
export const Presence = z.object({
  type: z.literal("presence"),
  room: Room.optional(),
  joined: User.optional(),
  left: User.optional(),
  online: z.number().int(),
});
export type Presence = z.infer<typeof Presence>;
export const Ack = withRef("ack", { id: MessageId, time: z.number() });
export const Users = withRef("users", {
  users: z.array(User),
  /** How many are online in all (more than `users` lists in a very large room). */
  online: z.number().int().optional(),
  /** The room whose members online these are (absent: the whole server). */
  room: Room.optional(),
});
export const Results = withRef("results", { total: z.number().int(), messages: z.array(Message) });
export const ErrorFrame = z.object({
  type: z.literal("error"),
  ref: Ref.optional(),
  code: z.string(),
  message: z.string(),
});
export type ErrorFrame = z.infer<typeof ErrorFrame>;
/** One session: a device that holds a token for this id. */
export const SessionInfo = z.object({
  /** A short opaque handle (not the token). */
  id: z.string(),
  /** The session this connection uses. */
  current: z.boolean(),
  createdAt: z.number(),
  lastSeenAt: z.number(),
  /** The address it last connected from. */
  address: z.string(),
});
export type SessionInfo = z.infer<typeof SessionInfo>;
/** The answer to `sessions` and to `logout_others` (then only the current one is left). */
export const Sessions = withRef("sessions", { sessions: z.array(SessionInfo) });
/** The answer to `rooms`: as many as fit one frame, by name, and how many there are in all. */
export const Rooms = withRef("rooms", { rooms: z.array(RoomInfo), total: z.number().int() });
/**
 * A room changed for this user: they joined or parted it (the answer to `join`/`part`), its topic
 * or privacy was set `by` someone, or `user` was invited to it `by` someone (to both).
 */
export const RoomEvent = z.object({
  type: z.literal("room"),
  ref: Ref.optional(),
  event: z.enum(["joined", "parted", "topic", "private", "invited"]),
  room: RoomInfo,
  by: UserId.optional(),
  user: UserId.optional(),
});
export type RoomEvent = z.infer<typeof RoomEvent>;
/**
 * `user` is away (`reason`, since `since`) or back (neither): the answer to `away` (with `ref`),
 * and said once to whoever writes a direct message to someone away.
 */
export const AwayEvent = z.object({
  type: z.literal("away"),
  ref: Ref.optional(),
  user: UserId,
  reason: z.string().optional(),
  since: z.number().optional(),
});
export type AwayEvent = z.infer<typeof AwayEvent>;
export type ModerationAction = typeof MODERATION_ACTIONS[number];

/**
 * An operator acted: `user` (or everyone at `address`) was kicked from, banned from or muted in
 * `room` (absent: the whole server) `by` someone, until `until` (absent: until lifted), or made
 * an operator of it or no longer one; or (`dropped`, no `user`) `room` was removed. Told to the
 * room's members online, to the user, and to the operator (with `ref`).
 */
export const ModerationEvent = z.object({
  type: z.literal("moderation"),
  ref: Ref.optional(),
  action: z.enum(MODERATION_ACTIONS),
  room: Room.optional(),
  user: UserId.optional(),
  address: z.string().optional(),
  by: UserId,
  reason: z.string().optional(),
  until: z.number().optional(),
  /**
   * `kicked` or `banned` out of a room of at most 200 online: how many are in it, and how many of
   * them are online, after the change (absent in a larger room: its count comes as a part's does).
   */
  members: z.number().int().optional(),
  online: z.number().int().optional(),
});
export type ModerationEvent = z.infer<typeof ModerationEvent>;
/** The answer to `ops`: the server's operators, and the room's (its creator among them). */
export const Ops = withRef("ops", {
  server: z.array(UserId),
  room: Room.optional(),
  operators: z.array(UserId).optional(),
  creator: UserId.optional(),
});
/** A ban or mute in force. */
export const Restriction = z.object({
  kind: z.enum(["ban", "mute"]),
  /** Absent: the whole server. */
  room: Room.optional(),
  user: UserId.optional(),
  /** An address (IPv4) or a /64 (IPv6), for a server-wide ban on one. */
  address: z.string().optional(),
  by: UserId,
  reason: z.string().optional(),
  time: z.number(),
  until: z.number().optional(),
});
export type Restriction = z.infer<typeof Restriction>;
/** The answer to `bans`: newest first from `offset`, as many as fit one frame, and the total. */
export const Bans = withRef("bans", {
  room: Room.optional(),
  bans: z.array(Restriction),
  total: z.number().int(),
  offset: z.number().int(),
});
/** One entry of the moderation log; `by` is `admin` for what `chat admin` did. */
export const ModlogEntry = z.object({
  /** Its number: `modlog` pages on with `before`. */
  id: z.number().int(),
  time: z.number(),
  action: z.enum(MODERATION_ACTIONS),
  by: z.string(),
  room: Room.optional(),
  user: UserId.optional(),
  address: z.string().optional(),
  reason: z.string().optional(),
  until: z.number().optional(),
  /** The message an operator deleted (its text is gone). */
  message: MessageId.optional(),
});
export type ModlogEntry = z.infer<typeof ModlogEntry>;
/** The answer to `modlog`: newest first, as many as fit one frame; `more` when older ones exist. */
export const Modlog = withRef("modlog", {
  room: Room.optional(),
  entries: z.array(ModlogEntry),
  more: z.boolean(),
});
/** `server` is sent only to a connection not logged in: a health check learns the version. */
export const Pong = z.object({
  type: z.literal("pong"),
  server: z.object({ version: z.string() }).optional(),
});
/** The server is closing this connection on purpose (shutdown, replaced by a newer login). */
export const Goodbye = z.object({
  type: z.literal("goodbye"),
  reason: z.string(),
  message: z.string(),
});

export const ServerFrame = z.discriminatedUnion("type", [
  Welcome,
  Message,
  Deleted,
  Presence,
  Ack,
  Users,
  Results,
  Sessions,
  Rooms,
  RoomEvent,
  AwayEvent,
  ModerationEvent,
  Ops,
  Bans,
  Modlog,
  ErrorFrame,
  Pong,
  Goodbye,
]);
export type ServerFrame = z.infer<typeof ServerFrame>;

/** Error codes the server sends, so clients and tests can tell them apart. */
export const ErrorCode = {
  badFrame: "bad_frame",
  frameTooLarge: "frame_too_large",
  notReady: "not_ready",
  alreadyHello: "already_hello",
  badPassword: "bad_password",
  unknownRecipient: "unknown_recipient",
  ambiguousRecipient: "ambiguous_recipient",
  notFound: "not_found",
  forbidden: "forbidden",
  rateLimited: "rate_limited",
  full: "full",
  badPattern: "bad_pattern",
  /** A search ran out of its time budget and was stopped. */
  searchTimeout: "search_timeout",
  /** The server is busy with other searches, or this user's last one is still running. */
  busy: "busy",
  /** Not a refusal: a resume missed more than the server replays; the newest follow. */
  backlogTruncated: "backlog_truncated",
  /** The token presented was revoked by `logout_others` from another session. */
  revoked: "revoked",
  /** This id or address is banned from the server (with `goodbye banned`). */
  banned: "banned",
  /** The server cannot do that just now (its database cannot be written); nothing was done. */
  unavailable: "unavailable",
  internal: "internal",
} as const;

/** Short readable description of the first zod issue, for an error frame. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "frame has the wrong shape";
  const where = issue.path.length ? ` at "${issue.path.join(".")}"` : "";
  return `frame has the wrong shape${where}: ${issue.message}`;
}
