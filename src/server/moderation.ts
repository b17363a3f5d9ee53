/**
 * Moderation: who is an operator, and what operators do. Server operators are granted and
 * revoked offline by whoever runs the server (`chat admin`), so they are read from the store
 * afresh on every use; a room's operators are its creator and whoever they `op`. Operators
 * kick, ban and unban, mute and unmute, delete messages (messages.ts asks {@link
 * Moderation.operates}), list bans and read the moderation log.
 *
 * Every action is one transaction (the change and its moderation log entry), then one
 * `moderation` frame told to everyone it concerns — the room's members online, the user it is
 * about, the operator (with `ref`) — and a line in the server log. Enforcement: a server-wide
 * ban refuses `hello` (by id, and by address key) and cuts the live connections it covers; a
 * room ban takes the user out of the room and refuses `join` (rooms.ts asks {@link
 * Moderation.bannedFrom}); a mute refuses `send` (messages.ts asks {@link Moderation.muted}).
 * A timed ban or mute ends by itself: checked when used, forgotten by `prune`.
 *
 * In memory: the mutes of the users online, each read (one key lookup) the first time they send
 * where it would hold, at most MUTES_KEPT_PER_USER per user, so a send is checked without a
 * read of the store after that, and however many rooms someone is muted in costs their hello
 * nothing. Everything else is one indexed read or write per request, and every list is bounded
 * by a constant and cut to one frame.
 *
 * In a cluster, what an action means for the other nodes goes to them (`elsewhere`): its frame
 * for the room's members and the user there, a mute to read again, a server ban's connections to
 * cut, a room dropped. They apply it with the `…Here` methods.
 */
import { encodeFrame } from "../protocol/codec.ts";
import {
  type Ban,
  type Deop,
  type DropRoom,
  ErrorCode,
  GENERAL_ROOM,
  type Kick,
  type ListBans,
  type ListModlog,
  type ListOps,
  type ModerationEvent,
  type Mute,
  type Op,
  type Restriction,
  type Unban,
  type Unmute,
  type User,
} from "../protocol/schema.ts";
import { addressKey, parseAddress } from "./address.ts";
import type { ClusterEvent, Elsewhere } from "./cluster/wire.ts";
import { fitInFrame, reply, writeOrRefuse } from "./frames.ts";
import {
  BANS_LIST_LIMIT,
  MAX_OPERATORS_PER_ROOM,
  MAX_RESTRICTIONS_PER_SCOPE,
  MODLOG_KEEP,
  MODLOG_LIST_LIMIT,
  RESTRICTIONS_PRUNED_PER_TICK,
} from "./limits.ts";
import { type Log, silentLog } from "./log.ts";
import type { Peer } from "./peer.ts";
import type { Presence } from "./presence.ts";
import { MAX_ROOMS_PER_USER, notInRoom, type Rooms } from "./rooms.ts";
import type { Resolution } from "./routing.ts";
import type { StoreHealth } from "./store/health.ts";
import type {
  NewModlogEntry,
  Purged,
  RestrictionKind,
  Store,
  StoredRestriction,
} from "./store/store.ts";

/** The scope of a server-wide ban or mute (a room's is its name). */
export const SERVER_SCOPE = "";
/** Who `chat admin` acts as, in the moderation log. */
export const ADMIN = "admin";

/**
 * The part of a moderation event that says what happened (the rest: `type`, `by`, `ref`, and the
 * room's counts after it, which the log does not keep).
 */
type Change = Omit<ModerationEvent, "type" | "by" | "ref" | "members" | "online">;

/**
 * Scopes whose mute (or its absence) is kept per user online: the server and every room one may
 * be in at once. Past it (rooms left and others joined), what is kept is read again as needed.
 */
export const MUTES_KEPT_PER_USER = MAX_ROOMS_PER_USER + 1;

/** A ban or mute refused because its scope keeps as many as it may. */
class ScopeFull extends Error {}

export interface ModerationOptions {
  store: Store;
  health: StoreHealth;
  rooms: Rooms;
  presence: Presence;
  /** A user as typed (an id, or a name one user online has), as a DM's recipient resolves. */
  resolve(typed: string): Resolution;
  /** A room was removed (the store has it marked): its messages are to be deleted, then it. */
  dropMessages?: (room: string) => void;
  /** The other nodes of a cluster, told of every action here (absent on a single server). */
  elsewhere?: Elsewhere;
  now?: () => number;
  log?: Log;
}

/** ` until 2026-12-03 17:12 UTC`, or nothing for a ban or mute until lifted. */
export function untilWords(until: number | undefined): string {
  if (until === undefined) return "";
  return ` until ${new Date(until).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

const reasonWords = (reason: string | undefined) => reason ? `: ${reason}` : "";

export class Moderation {
  readonly #store: Store;
  readonly #health: StoreHealth;
  readonly #rooms: Rooms;
  readonly #presence: Presence;
  readonly #resolve: ModerationOptions["resolve"];
  readonly #dropMessages: NonNullable<ModerationOptions["dropMessages"]>;
  readonly #elsewhere?: Elsewhere;
  readonly #now: () => number;
  readonly #log: Log;
  /**
   * The mutes of users online, as read when first needed: id → scope → when it ends (Infinity:
   * when lifted; 0 or past: none). At most MUTES_KEPT_PER_USER scopes each.
   */
  readonly #mutes = new Map<string, Map<string, number>>();

  constructor(options: ModerationOptions) {
    this.#store = options.store;
    this.#health = options.health;
    this.#rooms = options.rooms;
    this.#presence = options.presence;
    this.#resolve = options.resolve;
    this.#dropMessages = options.dropMessages ?? (() => {});
    this.#elsewhere = options.elsewhere;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? silentLog;
  }

  // ---- enforcement (asked by admission, rooms and messages) ------------------------------------

  /**
   * Why a `hello` is refused by a server-wide ban: on `userId` (when the token named one), or on
   * the address (never for a server operator); null when there is none.
   */
  bannedFromServer(userId: string | undefined, address: string | undefined): string | null {
    const now = this.#now();
    let ban = userId === undefined
      ? null
      : this.#store.restriction("ban", SERVER_SCOPE, userId, now);
    if (!ban && (userId === undefined || !this.#store.isServerOperator(userId))) {
      ban = this.#store.restriction("ban", SERVER_SCOPE, addressKey(address), now);
    }
    if (!ban) return null;
    return `you are banned from this server${untilWords(ban.until)}${reasonWords(ban.reason)}`;
  }

  /** Why `userId` may not join `room` (a ban), or null. */
  bannedFrom(userId: string, room: string): string | null {
    const ban = this.#store.restriction("ban", room, userId, this.#now());
    return ban && `you are banned from ${room}${untilWords(ban.until)}${reasonWords(ban.reason)}`;
  }

  /**
   * Why `userId` (online) may not send in `room` (undefined: a direct message), a mute there or
   * on the whole server; null when they may.
   */
  muted(userId: string, room: string | undefined): string | null {
    const now = this.#now();
    for (const scope of room === undefined ? [SERVER_SCOPE] : [SERVER_SCOPE, room]) {
      const until = this.#muteEnds(userId, scope, now);
      if (until <= now) continue;
      const where = scope === SERVER_SCOPE ? "on this server" : `in ${scope}`;
      const when = untilWords(until === Infinity ? undefined : until);
      return `you are muted ${where}${when}: you may read, not send`;
    }
    return null;
  }

  /** Whether `userId` may moderate `room`: a server operator, or an operator of the room. */
  operates(userId: string, room: string): boolean {
    return this.#store.isServerOperator(userId) || this.#store.isOperator(userId, room);
  }

  /**
   * `userId` came online: their mutes are read as they send (nothing now: a user muted in
   * thousands of rooms costs no more to log in than anyone).
   */
  enter(userId: string): void {
    this.#mutes.delete(userId);
  }

  /** Scopes whose mute is kept in memory, over all users online (for tests and metrics). */
  get mutesKept(): number {
    let kept = 0;
    for (const mine of this.#mutes.values()) kept += mine.size;
    return kept;
  }

  /** When `userId`'s mute in `scope` ends (0: none), kept from the first time it is asked. */
  #muteEnds(userId: string, scope: string, now: number): number {
    const known = this.#mutes.get(userId)?.get(scope);
    if (known !== undefined) return known;
    let until: number;
    try {
      const mute = this.#store.restriction("mute", scope, userId, now);
      until = mute === null ? 0 : mute.until ?? Infinity;
    } catch (error) {
      // as when the store cannot take the message either: not kept, read again next time
      this.#health.failed("reading a user's mutes", error);
      return 0;
    }
    this.#remember(userId, scope, until);
    return until;
  }

  /** Keeps `userId`'s mute in `scope` (online only), within MUTES_KEPT_PER_USER. */
  #remember(userId: string, scope: string, until: number): void {
    let mine = this.#mutes.get(userId);
    if (!mine) this.#mutes.set(userId, mine = new Map());
    else if (mine.size >= MUTES_KEPT_PER_USER && !mine.has(scope)) mine.clear();
    mine.set(scope, until);
  }

  /** `userId` went away. */
  leave(userId: string): void {
    this.#mutes.delete(userId);
  }

  /** An operator deleted someone else's message (it is purged and its audience told): logged. */
  deleted(by: string, purged: Purged): void {
    const entry: NewModlogEntry = {
      time: this.#now(),
      action: "deleted",
      by,
      room: purged.room,
      user: purged.from,
      message: purged.id,
    };
    try {
      this.#store.logModeration(entry, MODLOG_KEEP);
      this.#health.ok();
    } catch (error) {
      this.#health.failed("logging a deletion by an operator", error);
    }
    this.#logLine(entry);
  }

  /** Forgets ended bans and mutes, a bounded number at a time (called now and then). */
  prune(now: number): void {
    try {
      this.#store.pruneRestrictions(now, RESTRICTIONS_PRUNED_PER_TICK);
    } catch (error) {
      this.#health.failed("forgetting ended bans and mutes", error); // tried again next time
    }
  }

  // ---- requests ----------------------------------------------------------------------------

  /** `ops`: the server's operators, and with `room` (one the user is in) that room's. */
  ops(peer: Peer, user: User, frame: ListOps): void {
    this.#guard(peer, frame.ref, () => {
      const server = fitInFrame(this.#store.serverOperators());
      if (frame.room === undefined) return reply(peer, { type: "ops", ref: frame.ref, server });
      const room = frame.room;
      const visible = this.#rooms.exists(room) &&
        (this.#rooms.isIn(user.id, room) || this.#store.isServerOperator(user.id));
      if (!visible) return this.#fail(peer, frame.ref, ErrorCode.notFound, notInRoom(room));
      const creator = this.#store.roomCreator(room);
      reply(peer, {
        type: "ops",
        ref: frame.ref,
        server,
        room,
        operators: this.#store.roomOperators(room),
        ...(creator !== null ? { creator } : {}),
      });
    });
  }

  /** `op`: a member of a room becomes one of its operators. */
  op(peer: Peer, user: User, frame: Op): void {
    this.#guard(peer, frame.ref, () => {
      const { ref, room } = frame;
      if (!this.#roomAuthority(peer, user, ref, room, "make operators")) return;
      const target = this.#target(peer, user, ref, frame.user, "op");
      if (target === undefined || !this.#member(peer, ref, target, room)) return;
      this.#apply(peer, user, ref, { action: "opped", room, user: target }, () => {
        if (!this.#store.addRoomOperator(room, target, MAX_OPERATORS_PER_ROOM)) {
          throw new ScopeFull(
            `${room} has ${MAX_OPERATORS_PER_ROOM} operators, the most a room may have; ` +
              "/deop one first",
          );
        }
      });
    });
  }

  /** `deop`: an operator of a room is one no more (never its creator). */
  deop(peer: Peer, user: User, frame: Deop): void {
    this.#guard(peer, frame.ref, () => {
      const { ref, room } = frame;
      if (!this.#roomAuthority(peer, user, ref, room, "take operators away")) return;
      const target = this.#target(peer, user, ref, frame.user);
      if (target === undefined) return;
      if (this.#store.roomCreator(room) === target) {
        return this.#fail(
          peer,
          ref,
          ErrorCode.forbidden,
          `${target} made ${room} and stays its operator`,
        );
      }
      if (!this.#store.isOperator(target, room)) {
        return this.#fail(peer, ref, ErrorCode.notFound, `${target} is not an operator of ${room}`);
      }
      this.#apply(peer, user, ref, { action: "deopped", room, user: target }, () => {
        this.#store.removeRoomOperator(room, target);
      });
    });
  }

  /**
   * Takes someone out of a room in the store, and with them their operator's standing there (an
   * operator kicked or banned who comes back is a member; only the room's creator stays one).
   */
  #putOut(target: string, room: string): void {
    this.#store.partRoom(target, room);
    if (this.#store.roomCreator(room) !== target) this.#store.removeRoomOperator(room, target);
  }

  /** `kick`: out of a room, told why; they may join again. */
  kick(peer: Peer, user: User, frame: Kick): void {
    this.#guard(peer, frame.ref, () => {
      const { ref, room, reason } = frame;
      const authority = this.#roomAuthority(peer, user, ref, room, "kick");
      if (!authority) return;
      const target = this.#target(peer, user, ref, frame.user, "kick");
      if (target === undefined || this.#shielded(peer, ref, target, room, authority.server)) return;
      if (!this.#member(peer, ref, target, room)) return;
      this.#apply(
        peer,
        user,
        ref,
        { action: "kicked", room, user: target, reason },
        () => this.#putOut(target, room),
        () => this.#rooms.removeMember(target, room),
      );
    });
  }

  /**
   * `ban`: from a room (its operators), or from the whole server (server operators) by id,
   * optionally also on the address they connect from, or on an address alone.
   */
  ban(peer: Peer, user: User, frame: Ban): void {
    this.#guard(peer, frame.ref, () => {
      const { ref, room, reason } = frame;
      const until = frame.duration === undefined ? undefined : this.#now() + frame.duration * 1000;
      if (room !== undefined) {
        const authority = this.#roomAuthority(peer, user, ref, room, "ban people from it");
        if (!authority) return;
        const target = this.#target(peer, user, ref, frame.user!, "ban");
        if (target === undefined || this.#shielded(peer, ref, target, room, authority.server)) {
          return;
        }
        const member = this.#store.isMember(target, room);
        const change: Change = { action: "banned", room, user: target, reason, until };
        this.#apply(
          peer,
          user,
          ref,
          change,
          () => {
            this.#restrict(user, "ban", room, target, false, reason, until);
            if (member) this.#putOut(target, room);
          },
          member ? () => this.#rooms.removeMember(target, room) : undefined,
        );
        return;
      }
      if (!this.#serverAuthority(peer, user, ref, "ban from the whole server")) return;
      const on = this.#serverTarget(peer, user, ref, frame, "ban");
      if (!on) return;
      const { target, address } = on;
      const change: Change = { action: "banned", user: target, address, reason, until };
      const done = this.#apply(peer, user, ref, change, () => {
        if (target !== undefined) {
          this.#restrict(user, "ban", SERVER_SCOPE, target, false, reason, until);
        }
        if (address !== undefined) {
          this.#restrict(user, "ban", SERVER_SCOPE, address, true, reason, until);
        }
      });
      if (done) {
        const why = `${user.id}${untilWords(until)}${reasonWords(reason)}`;
        this.#cut(peer, target, address, why);
        this.#tellElsewhere({ kind: "serverBan", ...definedOnly({ user: target, address }), why });
      }
    });
  }

  /** `unban`: lifts a ban, as `ban` named it. */
  unban(peer: Peer, user: User, frame: Unban): void {
    this.#guard(peer, frame.ref, () => {
      const { ref, room } = frame;
      const scope = room ?? SERVER_SCOPE;
      let target: string | undefined;
      let address: string | undefined;
      if (room !== undefined) {
        if (!this.#roomAuthority(peer, user, ref, room, "lift its bans")) return;
        target = this.#target(peer, user, ref, frame.user!);
        if (target === undefined) return;
      } else {
        if (!this.#serverAuthority(peer, user, ref, "lift a server-wide ban")) return;
        const on = this.#serverTarget(peer, user, ref, frame);
        if (!on) return;
        ({ target, address } = on);
      }
      const key = (target ?? address)!;
      if (!this.#store.restriction("ban", scope, key, this.#now())) {
        const where = room ?? "this server";
        const who = target ?? `the address ${address}`;
        return this.#fail(peer, ref, ErrorCode.notFound, `${who} is not banned from ${where}`);
      }
      this.#apply(peer, user, ref, { action: "unbanned", room, user: target, address }, () => {
        this.#store.lift("ban", scope, key, this.#now());
      });
    });
  }

  /** `mute`: in a room (its operators) or everywhere (server operators): they read, not send. */
  mute(peer: Peer, user: User, frame: Mute): void {
    const what = { server: "mute on the whole server", room: "mute people in it" };
    this.#withAuthority(peer, user, frame, what, (authority) => {
      const { ref, room, reason } = frame;
      const scope = room ?? SERVER_SCOPE;
      const target = this.#target(peer, user, ref, frame.user, "mute");
      if (target === undefined || this.#shielded(peer, ref, target, room, authority.server)) return;
      const until = frame.duration === undefined ? undefined : this.#now() + frame.duration * 1000;
      const change: Change = { action: "muted", room, user: target, reason, until };
      const done = this.#apply(peer, user, ref, change, () => {
        this.#restrict(user, "mute", scope, target, false, reason, until);
      });
      if (done && this.#presence.peer(target)) this.#remember(target, scope, until ?? Infinity);
      else if (done) this.#tellElsewhere({ kind: "restricted", user: target, scope });
    });
  }

  /** `unmute`: lifts a mute. */
  unmute(peer: Peer, user: User, frame: Unmute): void {
    const what = { server: "lift a server-wide mute", room: "lift its mutes" };
    this.#withAuthority(peer, user, frame, what, () => {
      const { ref, room } = frame;
      const scope = room ?? SERVER_SCOPE;
      const target = this.#target(peer, user, ref, frame.user);
      if (target === undefined) return;
      if (!this.#store.restriction("mute", scope, target, this.#now())) {
        const where = room === undefined ? "on this server" : `in ${room}`;
        return this.#fail(peer, ref, ErrorCode.notFound, `${target} is not muted ${where}`);
      }
      const done = this.#apply(peer, user, ref, { action: "unmuted", room, user: target }, () => {
        this.#store.lift("mute", scope, target, this.#now());
      });
      if (done) this.#mutes.get(target)?.set(scope, 0);
      if (done && !this.#presence.peer(target)) {
        this.#tellElsewhere({ kind: "restricted", user: target, scope });
      }
    });
  }

  /** `bans`: the bans and mutes in force in a room, or on the server; newest first, paged. */
  bans(peer: Peer, user: User, frame: ListBans): void {
    const what = { server: "list the server's bans", room: "list its bans" };
    this.#withAuthority(peer, user, frame, what, () => {
      const { ref, room } = frame;
      const offset = frame.offset ?? 0;
      const { total, restrictions } = this.#store.restrictions(
        room ?? SERVER_SCOPE,
        this.#now(),
        offset,
        BANS_LIST_LIMIT,
      );
      const bans = fitInFrame(restrictions.map(toRestriction));
      reply(peer, { type: "bans", ref, ...(room ? { room } : {}), bans, total, offset });
    });
  }

  /** `modlog`: a room's moderation log (its operators), or all of it (server operators). */
  modlog(peer: Peer, user: User, frame: ListModlog): void {
    const what = { server: "read the whole moderation log", room: "read its moderation log" };
    this.#withAuthority(peer, user, frame, what, () => {
      const { ref, room } = frame;
      const rows = this.#store.modlog(room, frame.before, MODLOG_LIST_LIMIT + 1);
      const entries = fitInFrame(rows.slice(0, MODLOG_LIST_LIMIT));
      const more = rows.length > entries.length;
      reply(peer, { type: "modlog", ref, ...(room ? { room } : {}), entries, more });
    });
  }

  /**
   * `droproom`: a server operator removes a room (never GENERAL_ROOM). In one transaction its
   * members, operators, invitations, bans and mutes go and it is marked; its members online are
   * told once and it is gone for everyone; its messages are then deleted a batch per turn (the
   * group commit), and with the last of them its name is free and it counts no more.
   */
  droproom(peer: Peer, user: User, frame: DropRoom): void {
    this.#guard(peer, frame.ref, () => {
      const { ref, room, reason } = frame;
      // before anything about the room: to anyone else, nothing is said of it
      if (!this.#serverAuthority(peer, user, ref, "remove a room")) return;
      if (room === GENERAL_ROOM) {
        return this.#fail(peer, ref, ErrorCode.forbidden, `${GENERAL_ROOM} cannot be removed`);
      }
      if (!this.#rooms.exists(room)) {
        return this.#fail(peer, ref, ErrorCode.notFound, `there is no room ${room}`);
      }
      const done = this.#apply(peer, user, ref, { action: "dropped", room, reason }, () => {
        this.#store.dropRoom(room);
      });
      if (!done) return;
      this.#rooms.drop(room);
      this.forgetRoom(room);
      this.#dropMessages(room);
    });
  }

  // ---- what another node of a cluster did (cluster/wire.ts) -----------------------------------

  /**
   * The mutes kept of `room` go (it was removed): a room made later under its name starts with
   * none. Over the users online with mutes kept, as on the node that removed it.
   */
  forgetRoom(room: string): void {
    for (const mine of this.#mutes.values()) mine.delete(room);
  }

  /** `userId`'s mute in `scope` was set or lifted on another node: read again when they send. */
  forgetMuteHere(userId: string, scope: string): void {
    this.#mutes.get(userId)?.delete(scope);
  }

  /** A server-wide ban made on another node: its connections here are cut. */
  cutHere(target: string | undefined, address: string | undefined, why: string): void {
    this.#cut(undefined, target, address, why);
  }

  /**
   * The bus was away, and with it perhaps news of mutes set or lifted elsewhere: every mute kept
   * here is read again from the store when next needed.
   */
  forgetMutes(): void {
    this.#mutes.clear();
  }

  /**
   * The bus was away, and with it perhaps news of server bans: the connections here that a ban in
   * force covers are cut, as the lost event would have. One read of the server's bans; returns
   * how many bans covered someone here.
   */
  mendServerBans(): number {
    const { restrictions } = this.#store.restrictions(
      SERVER_SCOPE,
      this.#now(),
      0,
      MAX_RESTRICTIONS_PER_SCOPE,
    );
    const addresses = new Set<string>();
    for (const peer of this.#presence.peers()) addresses.add(addressKey(peer.address));
    let covering = 0;
    for (const ban of restrictions) {
      if (ban.kind !== "ban") continue;
      const here = ban.onAddress ? addresses.has(ban.target) : this.#presence.peer(ban.target);
      if (!here) continue;
      covering++;
      const why = `${ban.by}${untilWords(ban.until)}${reasonWords(ban.reason)}`;
      if (ban.onAddress) this.#cut(undefined, undefined, ban.target, why);
      else this.#cut(undefined, ban.target, undefined, why);
    }
    return covering;
  }

  #tellElsewhere(event: ClusterEvent): void {
    this.#elsewhere?.publish(event);
  }

  // ---- the steps every request takes ---------------------------------------------------------

  /** Runs a request; a store that cannot be read refuses it (nothing was done). */
  #guard(peer: Peer, ref: string, serve: () => void): void {
    try {
      serve();
    } catch (error) {
      this.#log.error("could not read the moderation tables", {
        cause: (error as Error)?.message,
      });
      this.#fail(
        peer,
        ref,
        ErrorCode.unavailable,
        "the server could not read its database just now; try again later",
      );
    }
  }

  #fail(peer: Peer, ref: string, code: string, message: string): void {
    reply(peer, { type: "error", ref, code, message });
  }

  /**
   * Whether `user` may act in `room`: a server operator (in any room), or a member who is one of
   * its operators. To a non-member it is a room they are not in, in the words used for every
   * room they are not in (nothing about an invite-only room leaks); to a member who is no
   * operator, `forbidden`.
   */
  #roomAuthority(
    peer: Peer,
    user: User,
    ref: string,
    room: string,
    what: string,
  ): { server: boolean } | undefined {
    const server = this.#store.isServerOperator(user.id);
    if (!this.#rooms.exists(room) || (!server && !this.#rooms.isIn(user.id, room))) {
      const words = server ? `there is no room ${room}` : notInRoom(room);
      return void this.#fail(peer, ref, ErrorCode.notFound, words);
    }
    if (!server && !this.#store.isOperator(user.id, room)) {
      return void this.#fail(
        peer,
        ref,
        ErrorCode.forbidden,
        `only an operator of ${room} may ${what}`,
      );
    }
    return { server };
  }

  /**
   * Runs (guarded) a request made in its room by one who may act there ({@link #roomAuthority}),
   * or without one on the whole server by a server operator; anyone else is told they may not
   * `what`.
   */
  #withAuthority(
    peer: Peer,
    user: User,
    frame: { ref: string; room?: string },
    what: { server: string; room: string },
    serve: (authority: { server: boolean }) => void,
  ): void {
    this.#guard(peer, frame.ref, () => {
      const { ref, room } = frame;
      if (room === undefined) {
        if (this.#serverAuthority(peer, user, ref, what.server)) serve({ server: true });
        return;
      }
      const authority = this.#roomAuthority(peer, user, ref, room, what.room);
      if (authority) serve(authority);
    });
  }

  /** Whether `user` is a server operator; if not, they are told they may not `what`. */
  #serverAuthority(peer: Peer, user: User, ref: string, what: string): boolean {
    if (this.#store.isServerOperator(user.id)) return true;
    this.#fail(peer, ref, ErrorCode.forbidden, `only a server operator may ${what}`);
    return false;
  }

  /** The id of the user a request names (`verb`: what may not be done to oneself). */
  #target(peer: Peer, user: User, ref: string, typed: string, verb?: string): string | undefined {
    const resolved = this.#resolve(typed);
    if (!resolved.ok) return void this.#fail(peer, ref, resolved.code, resolved.message);
    const target = resolved.ids[0];
    if (verb !== undefined && target === user.id) {
      return void this.#fail(peer, ref, ErrorCode.forbidden, `you cannot ${verb} yourself`);
    }
    return target;
  }

  /**
   * Whether `target` is out of reach (and the operator told): a server operator is, everywhere;
   * a room's creator is, in that room, except to a server operator.
   */
  #shielded(
    peer: Peer,
    ref: string,
    target: string,
    room: string | undefined,
    byServerOperator: boolean,
  ): boolean {
    let why: string | undefined;
    if (this.#store.isServerOperator(target)) why = `${target} is a server operator`;
    else if (room !== undefined && !byServerOperator && this.#store.roomCreator(room) === target) {
      why = `${target} made ${room}; only a server operator may do that to them there`;
    }
    if (why !== undefined) this.#fail(peer, ref, ErrorCode.forbidden, why);
    return why !== undefined;
  }

  /** Whether `target` is in `room`; if not, the operator is told. */
  #member(peer: Peer, ref: string, target: string, room: string): boolean {
    if (this.#store.isMember(target, room)) return true;
    this.#fail(peer, ref, ErrorCode.notFound, `${target} is not in ${room}`);
    return false;
  }

  /**
   * Whom a server-wide ban (or unban) is on: an id, or an address (its key), or with
   * `withAddress` both (the address they last came from).
   */
  #serverTarget(
    peer: Peer,
    user: User,
    ref: string,
    frame: { user?: string; address?: string; withAddress?: boolean },
    verb?: string,
  ): { target?: string; address?: string } | undefined {
    if (frame.address !== undefined) {
      const address = parseAddress(frame.address);
      if (address === null) {
        return void this.#fail(
          peer,
          ref,
          ErrorCode.badFrame,
          `${frame.address} is not an IPv4 or IPv6 address`,
        );
      }
      return { address };
    }
    const target = this.#target(peer, user, ref, frame.user!, verb);
    if (target === undefined) return undefined;
    if (verb !== undefined && this.#shielded(peer, ref, target, undefined, true)) return undefined;
    if (!frame.withAddress) return { target };
    const seen = this.#presence.peer(target)?.address ?? this.#store.sessions(target)[0]?.address;
    if (!seen) {
      return void this.#fail(peer, ref, ErrorCode.notFound, `no address is known for ${target}`);
    }
    return { target, address: addressKey(seen) };
  }

  /** Puts a ban or mute in force (within a transaction); ScopeFull when its scope is full. */
  #restrict(
    by: User,
    kind: RestrictionKind,
    scope: string,
    target: string,
    onAddress: boolean,
    reason: string | undefined,
    until: number | undefined,
  ): void {
    const restriction: StoredRestriction = {
      kind,
      scope,
      target,
      onAddress,
      by: by.id,
      time: this.#now(),
    };
    if (reason !== undefined) restriction.reason = reason;
    if (until !== undefined) restriction.until = until;
    if (!this.#store.restrict(restriction, MAX_RESTRICTIONS_PER_SCOPE)) {
      const where = scope === SERVER_SCOPE ? "the server" : scope;
      throw new ScopeFull(
        `${where} keeps ${MAX_RESTRICTIONS_PER_SCOPE.toLocaleString("en-US")} bans and mutes ` +
          "in force, the most it may; lift one first (/bans lists them)",
      );
    }
  }

  /**
   * Writes a change and its moderation log entry in one transaction, then tells everyone it
   * concerns and logs it; false when nothing was done (the operator was told why). `applied`
   * brings memory in line before anyone is told; the room counts it returns (someone put out of
   * a small room) go with the frame, so its members' counts change with the one line.
   */
  #apply(
    peer: Peer,
    user: User,
    ref: string,
    change: Change,
    write: () => void,
    applied?: () => { members: number; online: number } | undefined,
  ): boolean {
    const event: ModerationEvent = { type: "moderation", ...definedOnly(change), by: user.id };
    // whether the user it is about hears of it: a room's action only if they were in the room
    // (or may join it again), else a ban or mute with a reason would carry text to anyone
    const told = change.room === undefined || change.user === undefined ||
      this.#inRoom(change.user, change.room) || change.action === "unbanned";
    const entry: NewModlogEntry = { time: this.#now(), ...definedOnly(change), by: user.id };
    let full: string | undefined;
    const written = writeOrRefuse(this.#health, peer, ref, "record that", () => {
      try {
        this.#store.atomically(() => {
          write();
          this.#store.logModeration(entry, MODLOG_KEEP);
        });
      } catch (error) {
        if (!(error instanceof ScopeFull)) throw error;
        full = error.message;
      }
    });
    if (!written) return false;
    if (full !== undefined) {
      this.#fail(peer, ref, ErrorCode.full, full);
      return false;
    }
    this.#logLine(entry);
    const counts = applied?.();
    this.#tell(peer, ref, counts ? { ...event, ...counts } : event, told);
    return true;
  }

  /**
   * Whether `userId` is in `room`, online here; in a cluster, also when online on another node
   * (the store says: one indexed read, only for someone not online here).
   */
  #inRoom(userId: string, room: string): boolean {
    if (this.#rooms.isIn(userId, room)) return true;
    return this.#elsewhere !== undefined && !this.#presence.peer(userId) &&
      this.#store.isMember(userId, room);
  }

  /**
   * One frame to everyone an action concerns, encoded once: the room's members online, the user
   * it is about (when put out of the room already, through their own connection), and the
   * operator (with the ref of their request).
   */
  #tell(peer: Peer, ref: string, event: ModerationEvent, toUser: boolean): void {
    const bytes = encodeFrame(event);
    const { room, user } = event;
    if (room !== undefined) {
      for (const member of this.#rooms.peersIn(room)) if (member !== peer) member.send(bytes);
    }
    if (toUser && user !== undefined && (room === undefined || !this.#rooms.isIn(user, room))) {
      const target = this.#presence.peer(user);
      if (target && target !== peer) target.send(bytes);
    }
    reply(peer, { ...event, ref });
    // the same to the members and the user on the other nodes (counts there are theirs)
    const except = peer.user?.id;
    if (room !== undefined) this.#tellElsewhere({ kind: "toRoom", room, frame: event, except });
    if (toUser && user !== undefined && !this.#presence.peer(user)) {
      this.#tellElsewhere({ kind: "toUser", user, frame: event, unlessIn: room });
    }
  }

  /**
   * Cuts the live connections a server-wide ban covers: the user's, and those from the address
   * (never a server operator's). Bounded by the connections online.
   */
  #cut(
    peer: Peer | undefined,
    target: string | undefined,
    address: string | undefined,
    why: string,
  ): void {
    const goodbye = `you are banned from this server by ${why}`;
    const cut: Peer[] = [];
    const own = target !== undefined ? this.#presence.peer(target) : undefined;
    if (own) cut.push(own);
    if (address !== undefined) {
      for (const other of this.#presence.peers()) {
        if (other === peer || other === own || addressKey(other.address) !== address) continue;
        if (other.user && !this.#store.isServerOperator(other.user.id)) cut.push(other);
      }
    }
    for (const other of cut) other.close("banned", goodbye);
  }

  #logLine(entry: NewModlogEntry): void {
    const { action, by, room, user, address, until, reason, message } = entry;
    this.#log.info("moderation", { action, by, room, user, address, until, message, reason });
  }
}

/** A stored ban or mute as `bans` lists it. */
function toRestriction(r: StoredRestriction): Restriction {
  const out: Restriction = { kind: r.kind, by: r.by, time: r.time };
  if (r.scope !== SERVER_SCOPE) out.room = r.scope;
  if (r.onAddress) out.address = r.target;
  else out.user = r.target;
  if (r.reason !== undefined) out.reason = r.reason;
  if (r.until !== undefined) out.until = r.until;
  return out;
}

/** A copy without the fields that are undefined (a frame and a log entry carry only what is). */
function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
