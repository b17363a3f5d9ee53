/**
 * Who is online on the other nodes of a cluster, and which nodes are alive. Each node says who
 * joins and leaves it, and every HEARTBEAT_MS who is on it; a node not heard from for
 * NODE_DEAD_AFTER_MS is taken for dead, and its people leave. Pure: the clock is handed in.
 */
import type { User } from "../../protocol/schema.ts";

/** How often a node says it is alive (and who is on it). */
export const HEARTBEAT_MS = 2_000;
/** A node silent this long is dead: its users leave (the issue asks for within 10 s). */
export const NODE_DEAD_AFTER_MS = 7_000;
/** Users a heartbeat lists at most; beyond it a node is known by its joins and leaves only. */
export const HEARTBEAT_USERS_LIMIT = 5_000;

export interface RemoteUser {
  user: User;
  node: string;
  /** When they logged in there (which of two logins is newer, when one person has two). */
  since: number;
}

/** What a change in the roster means for this node. */
export interface RosterChange {
  joined: RemoteUser[];
  left: User[];
}

export class Roster {
  readonly #now: () => number;
  /** Users online on other nodes, by id. */
  readonly #users = new Map<string, RemoteUser>();
  /** Their ids by lower-cased name, for resolving `@name` without a scan. */
  readonly #byName = new Map<string, Set<string>>();
  /** Other nodes, by id: when last heard from, and who is on each. */
  readonly #nodes = new Map<string, { heardAt: number; users: Set<string> }>();

  constructor(now: () => number) {
    this.#now = now;
  }

  get size(): number {
    return this.#users.size;
  }

  /** The nodes heard from and alive. */
  get nodes(): number {
    return this.#nodes.size;
  }

  get(id: string): RemoteUser | undefined {
    return this.#users.get(id);
  }

  users(): IterableIterator<RemoteUser> {
    return this.#users.values();
  }

  /** The ids online elsewhere named `name`, ignoring case. */
  named(name: string): ReadonlySet<string> {
    return this.#byName.get(name.toLowerCase()) ?? new Set();
  }

  /** `node` said `user` is on it since `since`. True when they were not online elsewhere before. */
  join(node: string, user: User, since: number): boolean {
    const known = this.#users.get(user.id);
    if (known) this.#remove(known);
    this.#users.set(user.id, { user, node, since });
    this.#heard(node).users.add(user.id);
    const key = user.name.toLowerCase();
    const ids = this.#byName.get(key);
    if (ids) ids.add(user.id);
    else this.#byName.set(key, new Set([user.id]));
    return known === undefined;
  }

  /** `node` said `id` left it; their user when that was where they were. */
  leave(node: string, id: string): User | undefined {
    this.#heard(node);
    const known = this.#users.get(id);
    if (!known || known.node !== node) return undefined;
    this.#remove(known);
    return known.user;
  }

  /** They are online here now: no longer counted as elsewhere. */
  forget(id: string): void {
    const known = this.#users.get(id);
    if (known) this.#remove(known);
  }

  /**
   * `node`'s heartbeat with everyone on it (`complete`: the whole list): the ones missed are
   * added, and (from a complete list) those no longer there leave.
   */
  beat(node: string, users: readonly RemoteUser[], complete: boolean): RosterChange {
    const entry = this.#heard(node);
    const change: RosterChange = { joined: [], left: [] };
    const listed = new Set<string>();
    for (const remote of users) {
      listed.add(remote.user.id);
      const known = this.#users.get(remote.user.id);
      if (known?.node === node) continue;
      // someone online on two nodes: the newer login holds (the other node closes its own)
      if (known && known.since > remote.since) continue;
      if (this.join(node, remote.user, remote.since)) change.joined.push(remote);
    }
    if (complete) {
      for (const id of [...entry.users]) {
        if (listed.has(id)) continue;
        const user = this.leave(node, id);
        if (user) change.left.push(user);
      }
    }
    return change;
  }

  /** `node` said it is stopping: everyone on it leaves. */
  drop(node: string): User[] {
    const entry = this.#nodes.get(node);
    if (!entry) return [];
    this.#nodes.delete(node);
    const left: User[] = [];
    for (const id of entry.users) {
      const known = this.#users.get(id);
      if (known?.node !== node) continue;
      this.#remove(known);
      left.push(known.user);
    }
    return left;
  }

  /** Nodes silent for NODE_DEAD_AFTER_MS are dropped; the users who leave with them. */
  expire(): User[] {
    const now = this.#now();
    const left: User[] = [];
    for (const [node, entry] of [...this.#nodes]) {
      if (now - entry.heardAt >= NODE_DEAD_AFTER_MS) left.push(...this.drop(node));
    }
    return left;
  }

  #remove(known: RemoteUser): void {
    this.#users.delete(known.user.id);
    this.#nodes.get(known.node)?.users.delete(known.user.id);
    const key = known.user.name.toLowerCase();
    const ids = this.#byName.get(key);
    ids?.delete(known.user.id);
    if (ids?.size === 0) this.#byName.delete(key);
  }

  #heard(node: string): { heardAt: number; users: Set<string> } {
    let entry = this.#nodes.get(node);
    if (!entry) this.#nodes.set(node, entry = { heardAt: 0, users: new Set() });
    entry.heardAt = this.#now();
    return entry;
  }
}
