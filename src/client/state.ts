/**
 * What a client knows: who it is, who is online, and the messages it has been shown, each with
 * a short ref a person can type. Pure: frames in, events out; no I/O, no clock.
 */
import { GENERAL_ROOM } from "../protocol/rules.ts";
import type {
  ClientFrame,
  Message,
  ModerationEvent,
  ModlogEntry,
  Restriction,
  RoomEvent,
  RoomInfo,
  ServerFrame,
  SessionInfo,
  User,
} from "../protocol/schema.ts";

/** Shortest ref handed out. */
export const MIN_REF_LENGTH = 4;

/** A message as shown, with its short ref (and the ref of the message it replies to, if shown). */
export interface Shown extends Message {
  ref: string;
  replyRef?: string;
  /** From someone this client ignores (only --json shows such a message, marked). */
  ignored?: boolean;
}

/** What the UI has to show after a frame. */
export type ClientEvent =
  /** `rooms`: the rooms this user is in (none from a server without rooms). */
  | { type: "welcome"; you: User; users: User[]; online: number; rooms?: RoomInfo[] }
  | { type: "message"; message: Shown }
  /** `by`: an operator of its room, who deleted someone else's message. */
  | { type: "deleted"; id: string; ref?: string; reason: "deleted" | "expired"; by?: string }
  /** Came online or left; with `room`, joined or parted that room (`online`: of its members). */
  | { type: "presence"; joined?: User; left?: User; online: number; room?: string }
  /** Who is online (with `room`: of that room's members). */
  | { type: "users"; users: User[]; online: number; room?: string }
  /** The rooms listed by /rooms, and how many there are in all. */
  | { type: "rooms"; rooms: RoomInfo[]; total: number }
  /**
   * A room changed for this user (see RoomEvent); `toMe`: the invitation is for this user;
   * `here`: what this user types now goes to this room (it changed with this event).
   */
  | {
    type: "room";
    event: RoomEvent["event"];
    room: RoomInfo;
    by?: string;
    user?: string;
    toMe?: boolean;
    here?: string;
    /** Parted without asking: the server found this user out of the room (put out elsewhere). */
    notAsked?: boolean;
  }
  /**
   * An operator acted (see ModerationEvent); `toMe`: it is about this user; `here`: what this
   * user types goes to this room now (they were put out of the one they typed in).
   */
  | (Omit<ModerationEvent, "type" | "ref"> & { type: "moderation"; toMe?: boolean; here?: string })
  /** The server's operators, and a room's (`creator`: who made it). */
  | { type: "ops"; server: string[]; room?: string; operators?: string[]; creator?: string }
  /** Bans and mutes in force (of `room`, else server-wide), from `offset`, and how many. */
  | { type: "bans"; room?: string; bans: Restriction[]; total: number; offset: number }
  /** Moderation log entries, newest first; `more`: older ones exist. */
  | { type: "modlog"; room?: string; entries: ModlogEntry[]; more: boolean }
  /**
   * `pattern`: what was searched for, when the results answer a /search; `history`: they answer
   * /history, a page of earlier messages (of `room`, when it asked for one), oldest first.
   */
  | {
    type: "results";
    total: number;
    messages: Shown[];
    pattern?: string;
    history?: true;
    room?: string;
  }
  /** This user's sessions; `loggedOutOthers` when it answers /logout-others (the ones left). */
  | { type: "sessions"; sessions: SessionInfo[]; loggedOutOthers: boolean }
  | { type: "ack"; requestRef: string; id: string }
  | { type: "error"; requestRef?: string; code: string; message: string }
  | { type: "goodbye"; reason: string; message: string }
  /** A message typed while disconnected: it goes out when the connection is back. */
  | { type: "pending"; text: string; to?: string[] }
  /**
   * `user` is away (`reason`) or back (no reason): this user (`mine`: the answer to /away, or
   * said when joining while still away), or someone this user wrote to (said once).
   */
  | { type: "away"; user: string; reason?: string; since?: number; mine: boolean };

/**
 * Messages (and search/history results) a client keeps, with their refs: a session left open for
 * weeks on a busy server must not grow without end. The oldest go first; their refs stop working.
 */
export const MAX_KEPT_MESSAGES = 10_000;
export const MAX_KEPT_RESULTS = 2_000;

export class ClientState {
  me?: User;
  token?: string;
  /** Who is online, as far as this client was told (all of them, unless the room is large). */
  readonly users = new Map<string, User>();
  /** How many are online. */
  online = 0;
  /** The rooms this user is in, as last told. */
  readonly rooms = new Map<string, RoomInfo>();
  /** Where a public message typed goes: set by `--room`, moved by /join and /part. */
  room = GENERAL_ROOM;
  readonly messages = new Map<string, Shown>();
  readonly #refs = new Map<string, string>();
  readonly #refOf = new Map<string, string>();
  /** Messages seen only in search or history results: their refs work too. */
  readonly #found = new Map<string, Shown>();
  /** Why this user is away, while they are (as the server last said). */
  away?: string;
  /** Id of the last message frame received (frames come in the server's order), for resuming. */
  lastId?: string;
  /** The oldest message of each room shown (live, backlog or history): /history goes before it. */
  readonly #oldest = new Map<string, string>();

  /**
   * Applies one server frame; returns what to show (nothing for a duplicate). `asked` is the
   * request the frame answers, when it answers one.
   */
  apply(frame: ServerFrame, asked?: ClientFrame): ClientEvent[] {
    switch (frame.type) {
      case "welcome":
        this.me = frame.you;
        this.token = frame.token;
        this.users.clear();
        for (const user of frame.users) this.users.set(user.id, user);
        this.online = frame.online ?? frame.users.length;
        this.rooms.clear();
        for (const room of frame.rooms ?? []) this.rooms.set(room.name, room);
        return [{
          type: "welcome",
          you: frame.you,
          users: frame.users,
          online: this.online,
          ...(frame.rooms ? { rooms: frame.rooms } : {}),
        }];
      case "message": {
        this.lastId = frame.id;
        this.#older(frame);
        if (this.messages.has(frame.id)) return []; // idempotent by id
        const shown: Shown = { ...frame, ref: this.#refFor(frame.id) };
        if (frame.replyTo) {
          const original = this.messages.get(frame.replyTo);
          if (original) shown.replyRef = original.ref;
        }
        this.messages.set(frame.id, shown);
        this.#bound(this.messages, MAX_KEPT_MESSAGES);
        return [{ type: "message", message: shown }];
      }
      case "deleted": {
        const shown = this.messages.get(frame.id) ?? this.#found.get(frame.id);
        // a deletion of something never shown here, or shown as deleted already: nothing to say
        if (!shown) return [];
        // its ref stays taken, so a ref typed from the screen never reaches a newer message
        this.messages.delete(frame.id);
        this.#found.delete(frame.id);
        // replies shown here stop quoting the text, as they would from the server's history
        for (const message of this.messages.values()) {
          if (message.replyTo === frame.id) message.quote = { deleted: true };
        }
        return [{
          type: "deleted",
          id: frame.id,
          ref: shown.ref,
          reason: frame.reason,
          ...(frame.by !== undefined ? { by: frame.by } : {}),
        }];
      }
      case "presence": {
        const { joined, left, online, room } = frame;
        if (room !== undefined) {
          // someone joined or parted a room: who is online on the server is the same
          const info = this.rooms.get(room);
          if (info) this.rooms.set(room, { ...info, online });
          return [{ type: "presence", joined, left, online, room }];
        }
        if (joined) this.users.set(joined.id, joined);
        if (left) this.users.delete(left.id);
        this.online = online;
        return [{ type: "presence", joined, left, online }];
      }
      case "users":
        if (frame.room !== undefined) {
          const online = frame.online ?? frame.users.length;
          return [{ type: "users", users: frame.users, online, room: frame.room }];
        }
        this.users.clear();
        for (const user of frame.users) this.users.set(user.id, user);
        this.online = frame.online ?? frame.users.length;
        return [{ type: "users", users: frame.users, online: this.online }];
      case "rooms":
        for (const room of frame.rooms) {
          if (this.rooms.has(room.name)) this.rooms.set(room.name, room);
        }
        return [{ type: "rooms", rooms: frame.rooms, total: frame.total }];
      case "room":
        return [this.#room(frame, asked)];
      case "moderation":
        return [this.#moderation(frame)];
      case "ops": {
        const { type, server, room, operators, creator } = frame;
        return [{ type, server, room, operators, creator }];
      }
      case "bans": {
        const { type, room, bans, total, offset } = frame;
        return [{ type, room, bans, total, offset }];
      }
      case "modlog": {
        const { type, room, entries, more } = frame;
        return [{ type, room, entries, more }];
      }
      case "results": {
        const history = asked?.type === "history";
        if (history) { for (const m of frame.messages) this.#older(m); }
        return [{
          type: "results",
          total: frame.total,
          messages: frame.messages.map((m) => this.#remember(m)),
          ...(asked?.type === "search" ? { pattern: asked.pattern } : {}),
          ...(history ? { history: true as const } : {}),
          ...(history && asked.room !== undefined ? { room: asked.room } : {}),
        }];
      }
      case "sessions":
        return [{
          type: "sessions",
          sessions: frame.sessions,
          loggedOutOthers: asked?.type === "logout_others",
        }];
      case "ack":
        return [{ type: "ack", requestRef: frame.ref, id: frame.id }];
      case "error":
        return [{ type: "error", requestRef: frame.ref, code: frame.code, message: frame.message }];
      case "goodbye":
        return [{ type: "goodbye", reason: frame.reason, message: frame.message }];
      case "away": {
        const mine = frame.user === this.me?.id;
        if (mine) this.away = frame.reason;
        const event: ClientEvent = { type: "away", user: frame.user, mine };
        if (frame.reason !== undefined) event.reason = frame.reason;
        if (frame.since !== undefined) event.since = frame.since;
        return [event];
      }
      case "pong":
        return [];
    }
  }

  /**
   * A change to a room: the rooms this user is in follow it. Joining a room on request moves
   * what is typed there; parting the room typed in moves it back to GENERAL_ROOM (or the first
   * room left, when they parted that too).
   */
  #room(frame: RoomEvent, asked?: ClientFrame): ClientEvent {
    const { event, room, by, user } = frame;
    const out: ClientEvent = { type: "room", event, room };
    if (by !== undefined) out.by = by;
    if (user !== undefined) out.user = user;
    if (event === "invited" && user === this.me?.id) out.toMe = true;
    if (event === "joined") {
      this.rooms.set(room.name, room);
      if (asked?.type === "join" && this.room !== room.name) out.here = this.room = room.name;
    } else if (event === "parted") {
      if (asked?.type !== "part") out.notAsked = true;
      const here = this.#out(room.name);
      if (here !== undefined) out.here = here;
    } else if (this.rooms.has(room.name)) {
      this.rooms.set(room.name, room);
    }
    return out;
  }

  /**
   * An operator acted: kicked or banned from a room, this user is not in it any more; nor is
   * anyone in a room that was removed. Someone else put out of a room of this user's: its counts
   * are the ones the frame carries (a large room's come by `presence`, as for a part).
   */
  #moderation(frame: ModerationEvent): ClientEvent {
    const { type: _, ref: __, ...change } = frame;
    const out: ClientEvent = { type: "moderation", ...change };
    const toMe = frame.user !== undefined && frame.user === this.me?.id;
    if (toMe) out.toMe = true;
    const putOut = frame.action === "dropped" ||
      (toMe && ["kicked", "banned"].includes(frame.action));
    if (putOut && frame.room !== undefined) {
      const here = this.#out(frame.room);
      if (here !== undefined) out.here = here;
      return out;
    }
    const info = frame.room !== undefined ? this.rooms.get(frame.room) : undefined;
    if (info) {
      const counts: Partial<RoomInfo> = {};
      if (frame.members !== undefined) counts.members = frame.members;
      if (frame.online !== undefined) counts.online = frame.online;
      this.rooms.set(info.name, { ...info, ...counts });
    }
    return out;
  }

  /**
   * This user is out of `room`: if it was where they type, that moves to GENERAL_ROOM (or the
   * first room left, when they are out of that too), which is returned.
   */
  #out(room: string): string | undefined {
    this.rooms.delete(room);
    if (this.room !== room) return undefined;
    const next = this.rooms.has(GENERAL_ROOM) ? GENERAL_ROOM : this.rooms.keys().next().value;
    if (next !== undefined) this.room = next;
    return next;
  }

  /** The id of the oldest message of `room` shown so far, if any. */
  oldest(room: string): string | undefined {
    return this.#oldest.get(room);
  }

  /** Notes a public message's room's oldest (ULIDs sort by time). */
  #older(m: Message): void {
    if (m.to !== undefined && m.to.length > 0) return;
    const room = m.room ?? GENERAL_ROOM;
    const known = this.#oldest.get(room);
    if (known === undefined || m.id < known) this.#oldest.set(room, m.id);
  }

  /** The message a typed ref (with or without a leading #) stands for. */
  resolveRef(typed: string): Shown | undefined {
    const ref = typed.replace(/^#/, "").toLowerCase();
    const id = this.#refs.get(ref);
    return id ? this.messages.get(id) ?? this.#found.get(id) : undefined;
  }

  /** A message from results: shown with a ref that /reply and /delete accept. */
  #remember(m: Message): Shown {
    const known = this.messages.get(m.id) ?? this.#found.get(m.id);
    if (known) return known;
    const shown: Shown = { ...m, ref: this.#refFor(m.id) };
    this.#found.set(m.id, shown);
    this.#bound(this.#found, MAX_KEPT_RESULTS);
    return shown;
  }

  /** Forgets the oldest entries of `kept` beyond `max` (Maps keep insertion order). */
  #bound(kept: Map<string, Shown>, max: number): void {
    while (kept.size > max) this.#forget(kept.keys().next().value!);
  }

  /** Forgets a message wherever it is kept, and its ref. */
  #forget(id: string): void {
    this.messages.delete(id);
    this.#found.delete(id);
    const ref = this.#refOf.get(id);
    if (ref !== undefined) this.#refs.delete(ref);
    this.#refOf.delete(id);
  }

  /**
   * A ref is the shortest tail of the ULID (its random part), at least MIN_REF_LENGTH long,
   * not already standing for another message. Once given, a ref never changes.
   */
  #refFor(id: string): string {
    const known = this.#refOf.get(id);
    if (known) return known;
    const lower = id.toLowerCase();
    let ref = lower;
    for (let length = MIN_REF_LENGTH; length < lower.length; length++) {
      if (!this.#refs.has(lower.slice(-length))) {
        ref = lower.slice(-length);
        break;
      }
    }
    this.#refs.set(ref, id);
    this.#refOf.set(id, ref);
    return ref;
  }
}
