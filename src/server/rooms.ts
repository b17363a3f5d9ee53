/**
 * Rooms: every public message belongs to one. GENERAL_ROOM exists from the start and every new id
 * is put in it; `join` makes a room when there is none of that name (its creator its operator),
 * `part` leaves one, and membership is kept in the store per id, so it holds across connections
 * and restarts. An invite-only room is seen only by its members: to anyone else, every request
 * about it is answered in the words used for a room that does not exist.
 *
 * In memory: every room (at most the server's bound, with its topic and member count) and, for
 * the users online, which of their rooms they are in and which peer to reach them at. A user's
 * rooms are read from the store when they log in, never per message.
 *
 * In a cluster every node keeps this copy: each change made here is sent to the others
 * (`elsewhere`), which apply it with the `…Here` methods; a room's online count, and who `who`
 * lists in it, are the members online on this node.
 */
import { encodeFrame } from "../protocol/codec.ts";
import {
  ErrorCode,
  GENERAL_ROOM,
  type Invite,
  type Join,
  type ListRooms,
  type Part,
  type RoomEvent,
  type RoomInfo,
  type ServerFrame,
  type SetPrivate,
  type SetTopic,
  type User,
} from "../protocol/schema.ts";
import type { ClusterEvent, Elsewhere, Relayed, RoomState } from "./cluster/wire.ts";
import { fitInFrame, reply, writeOrRefuse } from "./frames.ts";
import { DEFAULT_MAX_ROOMS } from "./limits.ts";
import { type Log, silentLog } from "./log.ts";
import type { Peer } from "./peer.ts";
import type { Resolution } from "./routing.ts";
import { PRESENCE_INTERVAL_MS, PRESENCE_NAMES_LIMIT } from "./presence.ts";
import type { StoreHealth } from "./store/health.ts";
import type { Store, StoredRoom } from "./store/store.ts";

/** Rooms one user may be in at once (GENERAL_ROOM included). */
export const MAX_ROOMS_PER_USER = 50;
/** Most members listed by `who` for a room (fewer when they would not fit one frame). */
export const MEMBERS_LIST_LIMIT = 1_000;
/** Most rooms one `rooms` answer lists (fewer when they would not fit one frame); `after` pages on. */
export const ROOMS_LIST_LIMIT = 500;
/** Invitations an invite-only room keeps that nobody has taken up yet; the oldest go first. */
export const MAX_INVITES_PER_ROOM = 100;

/**
 * The one refusal for a room the user is not in: the same words whether it exists, is
 * invite-only, or not, so that nothing confirms an invite-only room to an outsider.
 */
export function notInRoom(room: string): string {
  return `you are not in ${room}`;
}

interface Room {
  name: string;
  topic: string;
  topicBy?: string;
  topicAt?: number;
  private: boolean;
  /** How many are in it, online or not. */
  members: number;
  /** Its members online, by id, in the order they came. */
  online: Map<string, Peer>;
  /** When a large room's online count was last sent (at most once per interval). */
  lastCount: number;
}

export interface RoomsOptions {
  store: Store;
  health: StoreHealth;
  /** Whether `peer` may create a room now (the rate limits); if not, it has been told. */
  allowCreate(peer: Peer, userId: string, ref: string): boolean;
  /** Rooms the server keeps at most (default DEFAULT_MAX_ROOMS). */
  maxRooms?: number;
  /** The online peer of a user, to tell them of an invitation. */
  peerOf(id: string): Peer | undefined;
  /** A user as typed (an id, or a name one user online has), as a DM's recipient resolves. */
  resolve(typed: string): Resolution;
  /** Users as `who` lists them (marked when away); as they are by default. */
  mark?(users: User[]): User[];
  /** Why `userId` may not join `room` now (a ban), or null (default: nobody is banned). */
  bannedFrom?(userId: string, room: string): string | null;
  /** The other nodes of a cluster, told of every change here (absent on a single server). */
  elsewhere?: Elsewhere;
  now?: () => number;
  log?: Log;
}

export class Rooms {
  readonly #store: Store;
  readonly #health: StoreHealth;
  readonly #allowCreate: RoomsOptions["allowCreate"];
  readonly #peerOf: RoomsOptions["peerOf"];
  readonly #resolve: RoomsOptions["resolve"];
  readonly #mark: (users: User[]) => User[];
  readonly #bannedFrom: NonNullable<RoomsOptions["bannedFrom"]>;
  readonly #maxRooms: number;
  readonly #elsewhere?: Elsewhere;
  readonly #now: () => number;
  readonly #log: Log;
  readonly #rooms = new Map<string, Room>();
  /** Every room's name, sorted: `rooms` lists them in this order. */
  readonly #sorted: string[] = [];
  #publicCount = 0;
  /** The rooms of each user online. */
  readonly #of = new Map<string, Set<string>>();
  /** Large rooms whose online count changed since it was last sent. */
  readonly #counts = new Set<Room>();
  /** Rooms being removed: their names stay taken (and counted) until their messages are gone. */
  readonly #dropping = new Set<string>();

  constructor(options: RoomsOptions) {
    this.#store = options.store;
    this.#health = options.health;
    this.#allowCreate = options.allowCreate;
    this.#peerOf = options.peerOf;
    this.#resolve = options.resolve;
    this.#mark = options.mark ?? ((users) => users);
    this.#bannedFrom = options.bannedFrom ?? (() => null);
    this.#maxRooms = options.maxRooms ?? DEFAULT_MAX_ROOMS;
    this.#elsewhere = options.elsewhere;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? silentLog;
    for (const stored of this.#store.rooms()) this.#add(stored);
    for (const name of this.#store.droppedRooms()) this.#dropping.add(name);
  }

  /** How many rooms there are (those being removed among them: they count until they are gone). */
  get size(): number {
    return this.#rooms.size + this.#dropping.size;
  }

  /**
   * `name` is being removed (the store has it marked, its members out): it is gone for everyone
   * at once, its name taken until {@link dropped}. Returns its members who were online.
   */
  drop(name: string): Peer[] {
    const peers = this.#dropHere(name);
    this.#tell({ kind: "dropping", room: name });
    return peers;
  }

  /** Another node is removing `name` ({@link drop}); returns its members online here. */
  dropHere(name: string): Peer[] {
    return this.#dropHere(name);
  }

  #dropHere(name: string): Peer[] {
    const room = this.#rooms.get(name);
    if (!room) return [];
    this.#rooms.delete(name);
    this.#sorted.splice(upperBound(this.#sorted, name) - 1, 1);
    if (!room.private) this.#publicCount--;
    this.#counts.delete(room);
    this.#dropping.add(name);
    for (const id of room.online.keys()) this.#of.get(id)?.delete(name);
    return [...room.online.values()];
  }

  /** A room being removed is gone, its messages with it: its name is free, and it counts no more. */
  dropped(name: string): void {
    this.#dropping.delete(name);
    this.#tell({ kind: "gone", room: name });
  }

  /** Another node's removal of `name` is done ({@link dropped}). */
  goneHere(name: string): void {
    this.#dropping.delete(name);
  }

  /** `user` came online on `peer` (`isNew`: their id was just made); returns their rooms. */
  enter(peer: Peer, user: User, isNew: boolean): RoomInfo[] {
    let names: string[] = [];
    try {
      names = this.#store.roomsOf(user.id);
    } catch (error) {
      // they are in no room for this connection: sending says so, and joining again mends it
      this.#log.error("could not read a user's rooms", {
        id: user.id,
        cause: (error as Error)?.message,
      });
    }
    // a new id was put in GENERAL_ROOM with its making (one transaction)
    if (isNew) {
      const general = this.#rooms.get(GENERAL_ROOM)!;
      general.members++;
      this.#tell({ kind: "room", state: stateOf(general), change: 1 });
    }
    const mine = new Set<string>();
    for (const name of names) {
      const room = this.#rooms.get(name);
      if (!room) continue;
      // coming online is told to everyone by presence already, not again per room
      room.online.set(user.id, peer);
      mine.add(name);
    }
    this.#of.set(user.id, mine);
    return [...mine].map((name) => this.#info(this.#rooms.get(name)!));
  }

  /** `user`, online on `peer`, went away. */
  leave(peer: Peer, user: User): void {
    const mine = this.#of.get(user.id);
    if (!mine) return;
    this.#of.delete(user.id);
    for (const name of mine) {
      const room = this.#rooms.get(name)!;
      if (room.online.get(user.id) === peer) room.online.delete(user.id);
    }
  }

  /** Whether `userId`, online, is in `room`. */
  isIn(userId: string, room: string): boolean {
    return this.#of.get(userId)?.has(room) ?? false;
  }

  /** How many of `room`'s members are online. */
  onlineIn(room: string): number {
    return this.#rooms.get(room)?.online.size ?? 0;
  }

  /** Whether there is a room of that name. */
  exists(room: string): boolean {
    return this.#rooms.has(room);
  }

  /** A room as listed, if there is one. */
  info(room: string): RoomInfo | undefined {
    const found = this.#rooms.get(room);
    return found && this.#info(found);
  }

  /** `room`'s members online. */
  peersIn(room: string): Iterable<Peer> {
    return this.#rooms.get(room)?.online.values() ?? [];
  }

  /**
   * `userId` was put out of `room` (kicked or banned; the store has it already): they are not in
   * it any more, online or not. Returns the room's counts after it, for the one `moderation`
   * frame that tells its members, while the room is small (as a part is named with its count);
   * in a large room undefined: its count goes out at the next tick, as for a part there.
   */
  removeMember(userId: string, name: string): { members: number; online: number } | undefined {
    const room = this.#rooms.get(name);
    if (!room) return undefined;
    room.members = Math.max(0, room.members - 1);
    room.online.delete(userId);
    this.#of.get(userId)?.delete(name);
    // on their node (if they are online on another) they are taken out there
    this.#tell({ kind: "putOut", user: userId, room: name });
    if (room.online.size > PRESENCE_NAMES_LIMIT) return void this.#countChanged(room);
    return { members: room.members, online: room.online.size };
  }

  /** Another node put `userId` out of `name` ({@link removeMember}). */
  putOutHere(userId: string, name: string): void {
    const room = this.#rooms.get(name);
    if (!room) return;
    room.members = Math.max(0, room.members - 1);
    if (room.online.delete(userId)) this.#countChanged(room);
    this.#of.get(userId)?.delete(name);
  }

  /**
   * A room as another node has it now (made there, or changed): kept here, and its members
   * online here told `frame` (but `except`), with this node's counts.
   */
  stateHere(
    state: RoomState,
    { made, change, frame, except }: {
      made?: boolean;
      change?: number;
      frame?: Relayed;
      except?: string;
    } = {},
  ): void {
    let room = this.#rooms.get(state.name);
    if (!room) {
      // being removed here: only its making anew (the name freed there) brings it back, not news
      // of the old one that crossed the removal on the bus
      if (this.#dropping.has(state.name) && !made) return;
      this.#dropping.delete(state.name);
      room = this.#add({ ...state, createdAt: 0 });
    } else {
      this.#setState(room, state);
      // made elsewhere while this node read it from the store: its creator is counted already
      if (!made) room.members = Math.max(0, room.members + (change ?? 0));
    }
    if (frame) this.toMembersHere(state.name, frame, except);
  }

  /** Topic and privacy as another node (or the store) has them. */
  #setState(room: Room, state: RoomState | StoredRoom): void {
    if (room.private !== state.private) this.#publicCount += state.private ? -1 : 1;
    room.private = state.private;
    room.topic = state.topic;
    room.topicBy = state.topicBy;
    room.topicAt = state.topicAt;
    if (state.topicBy === undefined) delete room.topicBy;
    if (state.topicAt === undefined) delete room.topicAt;
  }

  /**
   * The rooms as the store has them now (`stored`, and `dropped`: those being removed), read
   * after the bus was away: what the events it lost would have changed here is changed. Members
   * online here hear what a bus event would have told them of a new topic (who set it is in the
   * store); those of a room removed meanwhile, that they are out of it (as a `parted`: who
   * removed it is not kept). A member count or privacy changes silently (who joined, or who made
   * it invite-only, is not known). Returns the rooms removed here (their mutes go too).
   */
  mend(stored: readonly StoredRoom[], dropped: readonly string[]): string[] {
    const live = new Map(stored.map((room) => [room.name, room]));
    const removed: string[] = [];
    for (const [name, room] of [...this.#rooms]) {
      if (live.has(name)) continue;
      removed.push(name);
      const bytes = encodeFrame({ type: "room", event: "parted", room: this.#info(room) });
      for (const peer of this.#dropHere(name)) peer.send(bytes);
    }
    this.#dropping.clear();
    for (const name of dropped) this.#dropping.add(name);
    for (const state of live.values()) {
      const room = this.#rooms.get(state.name);
      if (!room) {
        this.#add(state);
        continue;
      }
      const topicSet = room.topic !== state.topic || room.topicAt !== state.topicAt;
      this.#setState(room, state);
      room.members = state.members;
      if (!topicSet || state.topicBy === undefined || room.online.size === 0) continue;
      const frame: RoomEvent = {
        type: "room",
        event: "topic",
        by: state.topicBy,
        room: this.#info(room),
      };
      const bytes = encodeFrame(frame);
      for (const peer of room.online.values()) peer.send(bytes);
    }
    return removed;
  }

  /** The users online here, whose rooms {@link mendMember} mends. */
  usersOnline(): string[] {
    return [...this.#of.keys()];
  }

  /**
   * `userId`'s rooms as the store has them now (`names`), read after the bus was away: a room
   * they are out of there (kicked, banned or parted on another node) they are out of here too,
   * told as for a part (who put them out is not known here); its members online here hear them
   * leave. Returns in how many rooms that was.
   */
  mendMember(userId: string, names: readonly string[]): number {
    const mine = this.#of.get(userId);
    if (!mine) return 0;
    const kept = new Set(names);
    let out = 0;
    for (const name of [...mine]) {
      const room = this.#rooms.get(name);
      if (kept.has(name) || !room) continue;
      mine.delete(name);
      const peer = room.online.get(userId);
      room.online.delete(userId);
      out++;
      if (!peer?.user) continue;
      reply(peer, { type: "room", event: "parted", room: this.#info(room) });
      this.#announce(room, {
        type: "presence",
        room: name,
        left: peer.user,
        online: room.online.size,
      });
    }
    return out;
  }

  /**
   * Tells `room`'s members online here (but `except`) what another node told its own, with this
   * node's online count. Joins and parts by name only while the room is small here.
   */
  toMembersHere(name: string, frame: Relayed, except?: string): void {
    const room = this.#rooms.get(name);
    if (!room) return;
    if (frame.type === "presence" && room.online.size > PRESENCE_NAMES_LIMIT) return;
    const bytes = encodeFrame(this.#counted(frame, room));
    for (const [id, peer] of room.online) if (id !== except) peer.send(bytes);
  }

  /** Tells `userId`, if online here and not in `unlessIn` (told as its member), what another node did. */
  toUserHere(userId: string, frame: Relayed, unlessIn?: string): void {
    const peer = this.#peerOf(userId);
    if (!peer || (unlessIn !== undefined && this.isIn(userId, unlessIn))) return;
    const room = frame.type === "room" ? frame.room.name : frame.room;
    const known = room === undefined ? undefined : this.#rooms.get(room);
    reply(peer, known ? this.#counted(frame, known) : frame);
  }

  /** A frame from another node with this node's counts of `room` (its online are its own). */
  #counted(frame: Relayed, room: Room): Relayed {
    switch (frame.type) {
      case "room":
        return { ...frame, room: this.#info(room) };
      case "presence":
        return { ...frame, online: room.online.size };
      case "moderation":
        return frame.online === undefined ? frame : { ...frame, online: room.online.size };
    }
  }

  /** Sends one encoded frame to `room`'s members online; returns to how many. */
  deliver(room: string, bytes: Uint8Array): number {
    const online = this.#rooms.get(room)?.online;
    if (!online) return 0;
    for (const peer of online.values()) peer.send(bytes);
    return online.size;
  }

  /** `join`: into the room, made first when there is none of that name. */
  join(peer: Peer, user: User, frame: Join): void {
    const name = frame.room;
    const fail = (code: string, message: string) =>
      reply(peer, { type: "error", ref: frame.ref, code, message });
    const mine = this.#mine(user.id);
    if (this.#dropping.has(name)) {
      return fail(
        ErrorCode.unavailable,
        `${name} is being removed; its name is free again in a moment, try again then`,
      );
    }
    let room = this.#rooms.get(name);
    if (room && !mine.has(name)) {
      let invited: boolean;
      let banned: string | null;
      try {
        banned = this.#bannedFrom(user.id, name);
        invited = !room.private || this.#store.isInvited(user.id, name);
      } catch (error) {
        return this.#readFailed(peer, frame.ref, error);
      }
      // an invitation does not lift a ban; to an outsider, an invite-only room says nothing more
      if (banned !== null && invited) return fail(ErrorCode.forbidden, banned);
      // a name cannot be made twice, so that it is taken is said; nothing of the room itself
      if (!invited) {
        return fail(
          ErrorCode.forbidden,
          `the name ${name} is taken: ask to be invited, or pick another name`,
        );
      }
    }
    if (room && frame.private && !room.private) {
      // asked for an invite-only room: never quietly a public one
      return fail(
        ErrorCode.forbidden,
        `${name} is a public room already; pick another name for an invite-only one`,
      );
    }
    if (room && mine.has(name)) return this.#answer(peer, frame.ref, room, "joined");
    if (mine.size >= MAX_ROOMS_PER_USER) {
      return fail(
        ErrorCode.full,
        `you are in ${MAX_ROOMS_PER_USER} rooms, the most one may be in; /part one first`,
      );
    }
    let create: { private: boolean } | undefined;
    if (!room) {
      if (this.size >= this.#maxRooms) {
        return fail(
          ErrorCode.full,
          `the server keeps at most ${this.#maxRooms.toLocaleString("en-US")} rooms and has ` +
            "them all; join one of them (/rooms lists them)",
        );
      }
      if (!this.#allowCreate(peer, user.id, frame.ref)) return;
      create = { private: frame.private ?? false };
    }
    const now = this.#now();
    let madeElsewhere = false;
    if (
      !this.#write(peer, frame.ref, "put you in that room", () => {
        try {
          this.#store.joinRoom(user.id, name, now, create);
        } catch (error) {
          if (!create || !(madeElsewhere = this.#madeElsewhere(name))) throw error;
        }
      })
    ) return;
    // another node made it first (we had not heard yet): a join of that room, checked as one
    if (madeElsewhere) return this.join(peer, user, frame);
    if (!room) {
      room = this.#add({ name, topic: "", private: create!.private, createdAt: now, members: 0 });
      this.#log.info("room created", { id: user.id, room: name, private: room.private });
    }
    room.members++;
    room.online.set(user.id, peer);
    mine.add(name);
    this.#answer(peer, frame.ref, room, "joined");
    const joined = { type: "presence" as const, room: name, joined: user };
    this.#announce(room, { ...joined, online: room.online.size });
    this.#tell({
      kind: "room",
      state: stateOf(room),
      ...(create ? { made: true as const } : {}),
      change: 1,
      frame: { ...joined, online: 0 }, // each node puts in its own count
      except: user.id,
    });
  }

  /**
   * Whether `name`, which this node could not make, was made by another node meanwhile (the
   * store refuses a second): then it is kept here now. Reads every room, once per such race
   * (creations are rate-limited; the store has no read of one room).
   */
  #madeElsewhere(name: string): boolean {
    if (!this.#elsewhere || this.#rooms.has(name) || this.#store.roomCreator(name) === null) {
      return false;
    }
    const stored = this.#store.rooms().find((r) => r.name === name);
    if (!stored) return false;
    this.stateHere({ ...stored });
    return true;
  }

  /** `part`: out of a room the user is in. */
  part(peer: Peer, user: User, frame: Part): void {
    const room = this.#member(peer, user, frame);
    if (!room) return;
    if (
      !this.#write(peer, frame.ref, "take you out of that room", () => {
        this.#store.partRoom(user.id, room.name);
      })
    ) return;
    room.members--;
    room.online.delete(user.id);
    this.#mine(user.id).delete(room.name);
    this.#answer(peer, frame.ref, room, "parted");
    const left = { type: "presence" as const, room: room.name, left: user };
    this.#announce(room, { ...left, online: room.online.size });
    this.#tell({
      kind: "room",
      state: stateOf(room),
      change: -1,
      frame: { ...left, online: 0 }, // each node puts in its own count
      except: user.id,
    });
  }

  /** `topic`: any member sets it; every member online is told. */
  topic(peer: Peer, user: User, frame: SetTopic): void {
    const room = this.#member(peer, user, frame);
    if (!room) return;
    const now = this.#now();
    if (
      !this.#write(peer, frame.ref, "set that topic", () => {
        this.#store.setTopic(room.name, frame.topic, user.id, now);
      })
    ) return;
    room.topic = frame.topic;
    room.topicBy = user.id;
    room.topicAt = now;
    this.#toMembers(room, peer, frame.ref, { event: "topic", by: user.id });
  }

  /** `private`: its operators make a room invite-only, or public again. */
  setPrivate(peer: Peer, user: User, frame: SetPrivate): void {
    const room = this.#member(peer, user, frame);
    if (!room) return;
    const fail = (message: string) =>
      reply(peer, { type: "error", ref: frame.ref, code: ErrorCode.forbidden, message });
    // every new id is put in it: it cannot be closed to them
    if (room.name === GENERAL_ROOM) return fail(`${GENERAL_ROOM} is open to everyone`);
    let operator: boolean;
    try {
      operator = this.#store.isOperator(user.id, room.name);
    } catch (error) {
      return this.#readFailed(peer, frame.ref, error);
    }
    if (!operator) {
      return fail(`only an operator of ${room.name} may make it invite-only or public`);
    }
    if (room.private !== frame.private) {
      if (
        !this.#write(peer, frame.ref, "change that room", () => {
          this.#store.setPrivate(room.name, frame.private);
        })
      ) return;
      room.private = frame.private;
      this.#publicCount += room.private ? -1 : 1;
    }
    this.#toMembers(room, peer, frame.ref, { event: "private", by: user.id });
  }

  /** `invite`: lets a user into an invite-only room, and tells them when they are online. */
  invite(peer: Peer, user: User, frame: Invite): void {
    const room = this.#member(peer, user, frame);
    if (!room) return;
    let resolved: Resolution;
    let member: boolean;
    try {
      resolved = this.#resolve(frame.user);
      member = resolved.ok && this.#store.isMember(resolved.ids[0], room.name);
    } catch (error) {
      return this.#readFailed(peer, frame.ref, error);
    }
    if (!resolved.ok) {
      const { code, message } = resolved;
      return reply(peer, { type: "error", ref: frame.ref, code, message });
    }
    const target = resolved.ids[0];
    const invited: RoomEvent = {
      type: "room",
      event: "invited",
      room: this.#info(room),
      by: user.id,
      user: target,
    };
    // in it already: nothing to keep, nobody to tell
    if (member) return reply(peer, { ...invited, ref: frame.ref });
    if (room.private) {
      const now = this.#now();
      if (
        !this.#write(peer, frame.ref, "keep that invitation", () => {
          this.#store.invite(room.name, target, user.id, now, MAX_INVITES_PER_ROOM);
        })
      ) return;
    }
    reply(peer, { ...invited, ref: frame.ref });
    const invitee = this.#peerOf(target);
    if (invitee) reply(invitee, invited);
    else this.#tell({ kind: "toUser", user: target, frame: invited });
  }

  /**
   * `rooms`: the public rooms and the user's own, by name from after `after`, as many as fit one
   * frame, and how many there are in all.
   */
  list(peer: Peer, user: User, frame: ListRooms): void {
    const mine = this.#mine(user.id);
    const rooms: RoomInfo[] = [];
    let i = frame.after === undefined ? 0 : upperBound(this.#sorted, frame.after);
    for (; i < this.#sorted.length && rooms.length < ROOMS_LIST_LIMIT; i++) {
      const room = this.#rooms.get(this.#sorted[i])!;
      if (!room.private || mine.has(room.name)) rooms.push(this.#info(room));
    }
    let total = this.#publicCount;
    for (const name of mine) if (this.#rooms.get(name)!.private) total++;
    reply(peer, { type: "rooms", ref: frame.ref, rooms: fitInFrame(rooms), total });
  }

  /** `who` for a room: its members online, as many as fit one frame. */
  who(peer: Peer, user: User, frame: { ref: string; room: string }): void {
    const room = this.#member(peer, user, frame);
    if (!room) return;
    const users: User[] = [];
    for (const member of room.online.values()) {
      if (users.length >= MEMBERS_LIST_LIMIT) break;
      users.push(member.user!);
    }
    reply(peer, {
      type: "users",
      ref: frame.ref,
      users: fitInFrame(this.#mark(users)),
      online: room.online.size,
      room: room.name,
    });
  }

  /** Sends the online count of large rooms whose count changed (at most once per interval). */
  tick(now: number): void {
    for (const room of this.#counts) {
      if (now - room.lastCount < PRESENCE_INTERVAL_MS) continue;
      this.#counts.delete(room);
      room.lastCount = now;
      const frame = encodeFrame({ type: "presence", room: room.name, online: room.online.size });
      for (const peer of room.online.values()) peer.send(frame);
    }
  }

  #mine(userId: string): Set<string> {
    let mine = this.#of.get(userId);
    if (!mine) this.#of.set(userId, mine = new Set());
    return mine;
  }

  /** The room of a request, if the user is in it; else they are told they are not. */
  #member(peer: Peer, user: User, frame: { ref: string; room: string }): Room | undefined {
    const room = this.#mine(user.id).has(frame.room) ? this.#rooms.get(frame.room) : undefined;
    if (!room) {
      reply(peer, {
        type: "error",
        ref: frame.ref,
        code: ErrorCode.notFound,
        message: notInRoom(frame.room),
      });
    }
    return room;
  }

  #add(stored: StoredRoom): Room {
    const room: Room = { ...stateOf(stored), online: new Map(), lastCount: 0 };
    this.#rooms.set(room.name, room);
    this.#sorted.splice(upperBound(this.#sorted, room.name), 0, room.name);
    if (!room.private) this.#publicCount++;
    return room;
  }

  #info(room: Room): RoomInfo {
    return { ...stateOf(room), online: room.online.size };
  }

  #answer(peer: Peer, ref: string, room: Room, event: "joined" | "parted"): void {
    reply(peer, { type: "room", ref, event, room: this.#info(room) });
  }

  /** A change every member online hears of (encoded once); the one who made it, with its ref. */
  #toMembers(
    room: Room,
    peer: Peer,
    ref: string,
    change: Pick<RoomEvent, "event" | "by">,
  ): void {
    const frame: RoomEvent = { type: "room", ...change, room: this.#info(room) };
    const bytes = encodeFrame(frame);
    for (const member of room.online.values()) if (member !== peer) member.send(bytes);
    reply(peer, { ...frame, ref });
    this.#tell({ kind: "room", state: stateOf(room), frame, except: peer.user?.id });
  }

  /** Tells the other nodes of a cluster (nobody on a single server). */
  #tell(event: ClusterEvent): void {
    this.#elsewhere?.publish(event);
  }

  /**
   * A join or part, by name to the room's members online while it is small; in a large one only
   * its count changes, sent by `tick` at most once per interval.
   */
  #announce(room: Room, frame: ServerFrame & { type: "presence" }): void {
    if (room.online.size > PRESENCE_NAMES_LIMIT) return this.#countChanged(room);
    const bytes = encodeFrame(frame);
    const who = frame.joined?.id ?? frame.left?.id;
    for (const [id, peer] of room.online) if (id !== who) peer.send(bytes);
  }

  /** Someone of a large room came or went: its count goes out at the next tick. */
  #countChanged(room: Room): void {
    if (room.online.size > PRESENCE_NAMES_LIMIT) this.#counts.add(room);
  }

  /** Runs a store write; false (and the peer told) when it failed. */
  #write(peer: Peer, ref: string, what: string, write: () => void): boolean {
    return writeOrRefuse(this.#health, peer, ref, what, write);
  }

  #readFailed(peer: Peer, ref: string, error: unknown): void {
    this.#log.error("could not read a room", { cause: (error as Error)?.message });
    reply(peer, {
      type: "error",
      ref,
      code: ErrorCode.unavailable,
      message: "the server could not read its database just now; try again later",
    });
  }
}

/** Where `name` goes in `sorted`: after every name not greater than it. */
function upperBound(sorted: readonly string[], name: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid] <= name) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * What the other nodes keep of a room (a stored one, or one here), which its info and a room
 * read from the store start from; who set the topic and when only where known.
 */
function stateOf(room: StoredRoom | Room): RoomState {
  const state: RoomState = {
    name: room.name,
    topic: room.topic,
    private: room.private,
    members: room.members,
  };
  if (room.topicBy !== undefined) state.topicBy = room.topicBy;
  if (room.topicAt !== undefined) state.topicAt = room.topicAt;
  return state;
}
