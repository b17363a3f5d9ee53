/**
 * What the nodes of a cluster say to each other on the bus, as JSON: each message names the node
 * it comes from. Checked on arrival like any input (a node of another version, a stray publisher
 * on the same subjects): a message that does not parse is dropped and counted, never trusted.
 */
import { z } from "zod";
import { MAX_FRAME_BYTES } from "../../protocol/codec.ts";
import { utf8Length } from "../frames.ts";
import {
  ModerationEvent,
  Presence,
  ROOM_PATTERN,
  RoomEvent,
  User,
  UserId,
} from "../../protocol/schema.ts";
import type { Commit } from "./sequencer.ts";

const Quote = z.union([
  z.object({ from: z.string(), text: z.string() }),
  z.object({ deleted: z.literal(true) }),
]);

const StoredMessage = z.object({
  seq: z.number().int().nonnegative(),
  id: z.string(),
  from: z.string(),
  to: z.array(z.string()).optional(),
  room: z.string().optional(),
  text: z.string(),
  time: z.number(),
  replyTo: z.string().optional(),
  quote: Quote.optional(),
  expiresAt: z.number().optional(),
  action: z.boolean().optional(),
});

const CommittedPurge = z.object({
  id: z.string(),
  from: z.string(),
  to: z.array(z.string()).optional(),
  room: z.string().optional(),
  reason: z.enum(["deleted", "expired"]),
  by: z.string().optional(),
});

export const CommitMessage = z.object({
  node: z.string(),
  commitNo: z.number().int().positive(),
  messages: z.array(StoredMessage),
  purges: z.array(CommittedPurge),
});

/**
 * A commit too large for the bus (NATS's max_payload): only its number goes, and each node reads
 * it from the store at once. Without `messages`, a node that does not know this form drops it
 * as unparsable and reads the commit at its next poll (never delivers it empty).
 */
export const ElidedCommit = z.object({
  node: z.string(),
  commitNo: z.number().int().positive(),
  elided: z.literal(true),
});

const Online = z.object({ user: User, since: z.number() });

export const PresenceMessage = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("join"), node: z.string(), user: User, since: z.number() }),
  z.object({ kind: z.literal("leave"), node: z.string(), id: z.string() }),
  z.object({
    kind: z.literal("beat"),
    node: z.string(),
    users: z.array(Online),
    /** Whether `users` is everyone on the node (not cut at HEARTBEAT_USERS_LIMIT). */
    complete: z.boolean(),
  }),
  z.object({ kind: z.literal("stop"), node: z.string() }),
]);
export type PresenceMessage = z.infer<typeof PresenceMessage>;

// ---- rooms and moderation (the `event` subject) ---------------------------------------------

const RoomName = z.string().regex(ROOM_PATTERN);

/**
 * A room as every node keeps it (rooms.ts), without its online count: that is each node's.
 * `members` is the sender's count, taken by a node that did not know the room yet; one that did
 * applies the event's `change` instead (counts from different nodes cannot be ordered, changes
 * add up in any order).
 */
const RoomState = z.object({
  name: RoomName,
  topic: z.string(),
  topicBy: UserId.optional(),
  topicAt: z.number().optional(),
  private: z.boolean(),
  members: z.number().int().nonnegative(),
});
export type RoomState = z.infer<typeof RoomState>;

/** Room left in a relayed frame for the receiving node's counts in place of the sender's. */
const COUNTS_SLACK_BYTES = 64;

/**
 * The frames one node has the others tell their people: joins and parts, room and moderation
 * news. Each still fits one frame once the receiver has put its own counts in.
 */
const Relayed = z.discriminatedUnion("type", [Presence, RoomEvent, ModerationEvent]).refine(
  (frame) => utf8Length(JSON.stringify(frame)) <= MAX_FRAME_BYTES - COUNTS_SLACK_BYTES,
  "a relayed frame is over the frame size",
);
export type Relayed = z.infer<typeof Relayed>;

/**
 * What changed on one node about rooms or moderation, for the others to apply to what they keep
 * and to tell their own people. Each is about one room or one user: applying it costs a lookup,
 * never a scan of every room or user.
 */
export const ClusterEvent = z.discriminatedUnion("kind", [
  /** A room was made or changed (joined, parted, topic, privacy): its state, and what to tell. */
  z.object({
    kind: z.literal("room"),
    state: RoomState,
    /** It was just made (a node that knows it already, from the store, has its creator counted). */
    made: z.literal(true).optional(),
    /** How its member count changed: someone joined (1) or parted (-1). */
    change: z.union([z.literal(1), z.literal(-1)]).optional(),
    /** For its members online, but `except` (who made the change). */
    frame: Relayed.optional(),
    except: UserId.optional(),
  }),
  /** A room is being removed (its members out, its name still taken), or it is gone. */
  z.object({ kind: z.literal("dropping"), room: RoomName }),
  z.object({ kind: z.literal("gone"), room: RoomName }),
  /** A frame for a room's members online, but `except`. */
  z.object({
    kind: z.literal("toRoom"),
    room: RoomName,
    frame: Relayed,
    except: UserId.optional(),
  }),
  /** A frame for one user, where they are online; not if they are in `unlessIn` (told there). */
  z.object({
    kind: z.literal("toUser"),
    user: UserId,
    frame: Relayed,
    unlessIn: RoomName.optional(),
  }),
  /** `user` was put out of `room` (kicked, banned): one member fewer. */
  z.object({ kind: z.literal("putOut"), user: UserId, room: RoomName }),
  /** `user`'s mute in `scope` (a room, or "" for the server) was set or lifted. */
  z.object({ kind: z.literal("restricted"), user: UserId, scope: z.string().max(64) }),
  /** A server-wide ban on `user` and/or an address key: their connections are cut, told `why`. */
  z.object({
    kind: z.literal("serverBan"),
    user: UserId.optional(),
    address: z.string().max(64).optional(),
    why: z.string().max(1024),
  }),
]);
export type ClusterEvent = z.infer<typeof ClusterEvent>;

export const EventMessage = z.object({ node: z.string().max(256), event: ClusterEvent });

/** Room for the envelope around a frame: an event is at most one frame's size and this. */
const EVENT_OVERHEAD_BYTES = 1024;
/** The largest `event` message a node sends or reads; a larger one is dropped. */
export const MAX_EVENT_BYTES = MAX_FRAME_BYTES + EVENT_OVERHEAD_BYTES;

/** Where rooms.ts and moderation.ts send what the other nodes must hear (cluster.ts; or none). */
export interface Elsewhere {
  publish(event: ClusterEvent): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** A bus message checked against `schema`, or null when it does not parse. */
export function decode<T>(schema: z.ZodType<T>, data: Uint8Array): T | null {
  try {
    const parsed = schema.safeParse(JSON.parse(decoder.decode(data)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export function commitMessage(node: string, commit: Commit): Uint8Array {
  return encode({ node, ...commit });
}
