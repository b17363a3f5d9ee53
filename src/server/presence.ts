/**
 * Who is online, and telling everyone. One peer per id (a newer login replaces an older one);
 * names resolve `@name` without a scan; joins and leaves are named while the room is small and
 * become a count sent at most once per PRESENCE_INTERVAL_MS when it is large.
 */
import { encodeFrame } from "../protocol/codec.ts";
import type { ServerFrame, User } from "../protocol/schema.ts";
import type { Peer } from "./peer.ts";
import type { Roster } from "./cluster/roster.ts";

/**
 * Up to this many online, each join and leave is announced by name to everyone. Beyond it,
 * announcing each would cost n² on the wire for n joins, so everyone gets only the online count,
 * at most once per PRESENCE_INTERVAL_MS; names come from `who`.
 */
export const PRESENCE_NAMES_LIMIT = 200;
export const PRESENCE_INTERVAL_MS = 1_000;
/** Most users listed in `welcome` and `users` (the frame cap bounds them anyway). */
export const USERS_LIST_LIMIT = 1_000;

export class Presence {
  /** Online users by id, in the order they joined. */
  readonly #online = new Map<string, Peer>();
  /** Online ids by lower-cased name, for resolving `@name`. */
  readonly #byName = new Map<string, Set<string>>();
  #countChanged = false;
  #lastCount = 0;
  /** In a cluster, who is online on the other nodes: counted and listed, reached through them. */
  #elsewhere?: Roster;

  /** Makes the people online on other nodes part of who is online. */
  attach(roster: Roster): void {
    this.#elsewhere = roster;
  }

  /** How many are online (on every node of a cluster). */
  get size(): number {
    return this.#online.size + (this.#elsewhere?.size ?? 0);
  }

  /** How many are online on this server (this node). */
  get here(): number {
    return this.#online.size;
  }

  /** The peer of an online user. */
  peer(id: string): Peer | undefined {
    return this.#online.get(id);
  }

  /** Every online peer, in the order they joined. */
  peers(): IterableIterator<Peer> {
    return this.#online.values();
  }

  /** `peer` is online as `user` now; returns the connection it replaces, if any. */
  add(peer: Peer, user: User): Peer | undefined {
    const previous = this.#online.get(user.id);
    peer.user = user;
    this.#online.set(user.id, peer);
    if (!previous) this.#nameAdd(user);
    return previous;
  }

  /** `peer` went away: its user if it was the one online for them, else undefined. */
  remove(peer: Peer): User | undefined {
    const user = peer.user;
    if (!user || this.#online.get(user.id) !== peer) return undefined;
    this.#online.delete(user.id);
    this.#nameRemove(user);
    return user;
  }

  /** Users online now, in the order they joined (at most `limit`); then those elsewhere. */
  users(limit = Infinity): User[] {
    const users: User[] = [];
    for (const peer of this.#online.values()) {
      if (users.length >= limit) return users;
      users.push(peer.user!);
    }
    for (const remote of this.#elsewhere?.users() ?? []) {
      if (users.length >= limit) break;
      users.push(remote.user);
    }
    return users;
  }

  /** The online users (anywhere) whose names are, ignoring case, one of `typed` (no duplicates). */
  named(typed: readonly string[]): User[] {
    const users = new Map<string, User>();
    for (const name of typed) {
      for (const id of this.#byName.get(name.toLowerCase()) ?? []) {
        users.set(id, this.#online.get(id)!.user!);
      }
      for (const id of this.#elsewhere?.named(name) ?? []) {
        const remote = this.#elsewhere!.get(id);
        if (remote && !users.has(id)) users.set(id, remote.user);
      }
    }
    return [...users.values()];
  }

  /**
   * A join or leave: by name while the room is small; in a large one only the count changes,
   * and `tick` sends it to everyone at most once per interval.
   */
  announce(frame: ServerFrame & { type: "presence" }, except?: Peer): void {
    if (this.size <= PRESENCE_NAMES_LIMIT) return this.broadcast(frame, except);
    this.#countChanged = true;
  }

  /** Sends the online count if it changed (large rooms). */
  tick(now: number): void {
    if (!this.#countChanged || now - this.#lastCount < PRESENCE_INTERVAL_MS) return;
    this.#countChanged = false;
    this.#lastCount = now;
    this.broadcast({ type: "presence", online: this.size });
  }

  /** One frame, encoded once, to everyone online (but `except`). */
  broadcast(frame: ServerFrame, except?: Peer): void {
    const bytes = encodeFrame(frame);
    for (const peer of this.#online.values()) if (peer !== except) peer.send(bytes);
  }

  /**
   * Sends one encoded frame to everyone online who may see a message from `from` to `to` (absent:
   * public); returns to how many.
   */
  deliver(message: { from: string; to?: readonly string[] }, bytes: Uint8Array): number {
    if (message.to === undefined) {
      for (const peer of this.#online.values()) peer.send(bytes);
      return this.#online.size;
    }
    let count = 0;
    for (const id of new Set([message.from, ...message.to])) {
      const peer = this.#online.get(id);
      if (peer) {
        peer.send(bytes);
        count++;
      }
    }
    return count;
  }

  #nameAdd(user: User): void {
    const key = user.name.toLowerCase();
    const ids = this.#byName.get(key);
    if (ids) ids.add(user.id);
    else this.#byName.set(key, new Set([user.id]));
  }

  #nameRemove(user: User): void {
    const key = user.name.toLowerCase();
    const ids = this.#byName.get(key);
    ids?.delete(user.id);
    if (ids?.size === 0) this.#byName.delete(key);
  }
}
