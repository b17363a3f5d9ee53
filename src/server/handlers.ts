/**
 * The table of client frames: one row per type, saying whether it needs a successful `hello`,
 * which rate limit it spends from, and what handles it. A new request is a new row here and a
 * method on the part of the server that owns its state.
 */
import { type ClientFrame, ErrorCode, type User } from "../protocol/schema.ts";
import { fitInFrame, reply } from "./frames.ts";
import type { Hub } from "./hub.ts";
import type { LimitKind } from "./limiters.ts";
import type { Peer } from "./peer.ts";
import { USERS_LIST_LIMIT } from "./presence.ts";

type FrameOf<T extends ClientFrame["type"]> = Extract<ClientFrame, { type: T }>;

/**
 * Frames whose handling makes output for others (a room's members, everyone): a connection that
 * sends them while the server is over its output budget is not read further for now.
 */
export const FANS_OUT: ReadonlySet<ClientFrame["type"]> = new Set([
  "send",
  "delete",
  "join",
  "part",
  "topic",
  "private",
  "invite",
  "op",
  "deop",
  "kick",
  "ban",
  "unban",
  "mute",
  "unmute",
  "droproom",
]);

export interface Handler<T extends ClientFrame["type"]> {
  /** Served only after a successful `hello` (else `error not_ready`). */
  needsHello: T extends "hello" | "ping" | "bye" ? false : true;
  /** The rate limit it spends from, per user and per address. */
  limit?: LimitKind;
  /** `user` is set when `needsHello` is. */
  handle(hub: Hub, peer: Peer, frame: FrameOf<T>, user: User): void;
}

export const HANDLERS: { [T in ClientFrame["type"]]: Handler<T> } = {
  hello: { needsHello: false, handle: (hub, peer, frame) => hub.hello(peer, frame) },
  ping: {
    needsHello: false,
    // before hello it is a health check (chat check): say which server this is
    handle: (hub, peer) =>
      reply(
        peer,
        peer.user ? { type: "pong" } : { type: "pong", server: { version: hub.version } },
      ),
  },
  bye: { needsHello: false, handle: (_hub, peer) => peer.close("bye", "goodbye") },
  send: {
    needsHello: true,
    limit: "send",
    handle: (hub, peer, frame, user) => hub.messages.send(peer, user, frame),
  },
  delete: {
    needsHello: true,
    limit: "send",
    handle: (hub, peer, frame, user) => hub.messages.delete(peer, user, frame),
  },
  search: {
    needsHello: true,
    limit: "search",
    handle: (hub, peer, frame, user) => hub.histories.search(peer, user.id, frame),
  },
  history: {
    needsHello: true,
    handle: (hub, peer, frame, user) => hub.histories.history(peer, user.id, frame),
  },
  who: {
    needsHello: true,
    handle: (hub, peer, frame, user) =>
      frame.room !== undefined
        ? hub.rooms.who(peer, user, { ref: frame.ref, room: frame.room })
        : reply(peer, {
          type: "users",
          ref: frame.ref,
          users: fitInFrame(hub.away.mark(hub.presence.users(USERS_LIST_LIMIT))),
          online: hub.presence.size,
        }),
  },
  join: {
    needsHello: true,
    limit: "room",
    handle: (hub, peer, frame, user) => hub.rooms.join(peer, user, frame),
  },
  part: {
    needsHello: true,
    limit: "room",
    handle: (hub, peer, frame, user) => hub.rooms.part(peer, user, frame),
  },
  topic: {
    needsHello: true,
    limit: "room",
    handle: (hub, peer, frame, user) => hub.rooms.topic(peer, user, frame),
  },
  private: {
    needsHello: true,
    limit: "room",
    handle: (hub, peer, frame, user) => hub.rooms.setPrivate(peer, user, frame),
  },
  invite: {
    needsHello: true,
    limit: "room",
    handle: (hub, peer, frame, user) => hub.rooms.invite(peer, user, frame),
  },
  away: {
    needsHello: true,
    limit: "away",
    handle: (hub, peer, frame, user) =>
      hub.away.set(peer, user, frame.ref, frame.reason, hub.now()),
  },
  rooms: {
    needsHello: true,
    handle: (hub, peer, frame, user) => hub.rooms.list(peer, user, frame),
  },
  ops: {
    needsHello: true,
    limit: "moderate",
    handle: (hub, peer, frame, user) => hub.moderation.ops(peer, user, frame),
  },
  op: {
    needsHello: true,
    limit: "moderate",
    handle: (hub, peer, frame, user) => hub.moderation.op(peer, user, frame),
  },
  deop: {
    needsHello: true,
    limit: "moderate",
    handle: (hub, peer, frame, user) => hub.moderation.deop(peer, user, frame),
  },
  kick: {
    needsHello: true,
    limit: "moderate",
    handle: (hub, peer, frame, user) => hub.moderation.kick(peer, user, frame),
  },
  ban: {
    needsHello: true,
    limit: "moderate",
    handle: (hub, peer, frame, user) => hub.moderation.ban(peer, user, frame),
  },
  unban: {
    needsHello: true,
    limit: "moderate",
    handle: (hub, peer, frame, user) => hub.moderation.unban(peer, user, frame),
  },
  mute: {
    needsHello: true,
    limit: "moderate",
    handle: (hub, peer, frame, user) => hub.moderation.mute(peer, user, frame),
  },
  unmute: {
    needsHello: true,
    limit: "moderate",
    handle: (hub, peer, frame, user) => hub.moderation.unmute(peer, user, frame),
  },
  bans: {
    needsHello: true,
    limit: "moderate",
    handle: (hub, peer, frame, user) => hub.moderation.bans(peer, user, frame),
  },
  modlog: {
    needsHello: true,
    limit: "moderate",
    handle: (hub, peer, frame, user) => hub.moderation.modlog(peer, user, frame),
  },
  droproom: {
    needsHello: true,
    limit: "moderate",
    handle: (hub, peer, frame, user) => hub.moderation.droproom(peer, user, frame),
  },
  sessions: {
    needsHello: true,
    handle: (hub, peer, frame, user) => replySessions(hub, peer, user, frame.ref),
  },
  logout_others: {
    needsHello: true,
    handle: (hub, peer, frame, user) => {
      if (
        peer.sessionId !== undefined &&
        !hub.admissions.logoutOthers(user, peer.sessionId, peer.address)
      ) {
        return reply(peer, {
          type: "error",
          ref: frame.ref,
          code: ErrorCode.unavailable,
          message: "the server could not revoke your other sessions just now; try again later",
        });
      }
      replySessions(hub, peer, user, frame.ref);
    },
  },
};

function replySessions(hub: Hub, peer: Peer, user: User, ref: string): void {
  const sessions = fitInFrame(hub.admissions.sessions(user, peer.sessionId));
  reply(peer, { type: "sessions", ref, sessions });
}
