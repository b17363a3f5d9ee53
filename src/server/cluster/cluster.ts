/**
 * This node's part in a cluster: its commits go out in the cluster's one order (sequencer.ts),
 * other nodes' commits are delivered here, and who is online anywhere is known (roster.ts). The
 * bus (NATS) carries both; PostgreSQL has every commit, so what the bus loses is read from it.
 * Wired by the hub; single servers have none of this.
 */
import type { User } from "../../protocol/schema.ts";
import { type Log, silentLog } from "../log.ts";
import type { CommitOrder } from "../messages.ts";
import type { Purge, StoredMessage, Tombstone } from "../store/store.ts";
import { type Bus, DEFAULT_SUBJECT_PREFIX, subjects } from "./bus.ts";
import { HEARTBEAT_MS, HEARTBEAT_USERS_LIMIT, type RemoteUser, Roster } from "./roster.ts";
import {
  type Commit,
  type CommitSource,
  type CommittedPurge,
  maxSeqOf,
  Sequencer,
} from "./sequencer.ts";
import {
  type ClusterEvent,
  CommitMessage,
  commitMessage,
  decode,
  ElidedCommit,
  type Elsewhere,
  encode,
  EventMessage,
  MAX_EVENT_BYTES,
  PresenceMessage,
} from "./wire.ts";

/** How often a node asks the store whether it missed a commit (a bus that dropped one). */
export const COMMIT_POLL_MS = 1_000;

/** What the cluster needs of the store (store/postgres.ts). */
export interface CommitLog {
  /** The number of the last commit this store object made. */
  readonly lastCommitNo: number;
  latestCommitNo(): number;
  latestSeq(): number;
  commitsAfter(
    commitNo: number,
    limit: number,
  ): { commitNo: number; messages: StoredMessage[]; purges: Purge[] }[];
  tombstone(id: string): Tombstone | null;
}

/** What the cluster asks of the rest of the server. */
export interface ClusterHooks {
  /** Delivers another node's commit to the people here. */
  deliver(commit: Commit): void;
  /** A newer login of `id` on another node: their connection here goes, quietly. */
  replaced(id: string): void;
  /** Tells everyone here that `user` came online (on another node). */
  joined(user: User): void;
  /** Tells everyone here that `user` went offline (on another node). */
  left(user: User): void;
  /** Whether `id` is online on this node. */
  isHere(id: string): boolean;
  /** Applies another node's change to rooms or moderation here, and tells whom it concerns. */
  event?(event: ClusterEvent): void;
  /**
   * The bus is back after losing its connection: the events it lost are not repeated, so rooms
   * and moderation here are read again from the store (once per reconnect heard at a tick).
   */
  resync?(): void;
}

export interface ClusterOptions {
  bus: Bus;
  store: CommitLog;
  hooks: ClusterHooks;
  /** This node's name on the bus (default: random, new at each start). */
  node?: string;
  prefix?: string;
  now?: () => number;
  log?: Log;
}

export class Cluster implements CommitOrder, Elsewhere {
  readonly node: string;
  readonly roster: Roster;
  readonly sequencer: Sequencer;
  readonly #bus: Bus;
  readonly #store: CommitLog;
  readonly #hooks: ClusterHooks;
  readonly #subjects: ReturnType<typeof subjects>;
  readonly #now: () => number;
  readonly #log: Log;
  /** Who is online here, with when they logged in (which of two logins is newer). */
  readonly #here = new Map<string, RemoteUser>();
  #lastBeat = 0;
  #lastPoll = 0;
  #dropped = 0;
  #elided = 0;
  #readFailing = false;
  /** The bus's reconnects already answered with a resync. */
  #reconnects: number;

  constructor(options: ClusterOptions) {
    this.node = options.node ?? crypto.randomUUID();
    this.#bus = options.bus;
    this.#store = options.store;
    this.#hooks = options.hooks;
    this.#subjects = subjects(options.prefix ?? DEFAULT_SUBJECT_PREFIX);
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? silentLog;
    this.#reconnects = this.#bus.reconnects;
    this.roster = new Roster(this.#now);
    const source: CommitSource = {
      latestCommitNo: () => this.#store.latestCommitNo(),
      commitsAfter: (after, limit) =>
        this.#store.commitsAfter(after, limit).map((c) => ({
          commitNo: c.commitNo,
          messages: c.messages,
          purges: c.purges.flatMap((p) => this.#purgeOf(p)),
        })),
    };
    this.sequencer = new Sequencer(
      source,
      (commit) => this.#deliverable(commit),
      this.#startingPoint(),
    );
  }

  /** Bus messages dropped because they did not parse (or were too large). */
  get dropped(): number {
    return this.#dropped;
  }

  /** This node's commits too large for the bus, announced by number only (read from the store). */
  get elided(): number {
    return this.#elided;
  }

  /** Listens on the bus and says this node is here. */
  start(): void {
    this.#bus.subscribe(this.#subjects.commit, (data) => this.#onCommit(data));
    this.#bus.subscribe(this.#subjects.presence, (data) => this.#onPresence(data));
    this.#bus.subscribe(this.#subjects.event, (data) => this.#onEvent(data));
    this.#beat(this.#now());
  }

  /** This node's commit: delivered here in its turn, and sent to the others. */
  own(messages: StoredMessage[], purges: CommittedPurge[], run: () => void): void {
    const commitNo = this.#store.lastCommitNo;
    this.sequencer.offer({ commitNo, maxSeq: maxSeqOf(messages), run }, true);
    let data = commitMessage(this.node, { commitNo, messages, purges });
    // the bus would refuse it, and nobody would hear of it before their next poll
    if (data.length > this.#bus.maxPayload) {
      this.#elided++;
      data = encode({ node: this.node, commitNo, elided: true });
    }
    this.#bus.publish(this.#subjects.commit, data);
  }

  /** `user` logged in here at `since`: the others hear it (and end an older login of theirs). */
  joined(user: User, since: number): void {
    this.roster.forget(user.id);
    this.#here.set(user.id, { user, node: this.node, since });
    this.#presence({ kind: "join", node: this.node, user, since });
  }

  /** `id` went offline here. */
  left(id: string): void {
    if (!this.#here.delete(id)) return;
    this.#presence({ kind: "leave", node: this.node, id });
  }

  /**
   * Delivers what the store has and this node has not sent out yet. Before a login: a client
   * resuming from a message it saw on another node must not get it again live from here.
   */
  catchUp(): void {
    try {
      this.sequencer.poll();
      if (this.#readFailing) this.#log.info("reading commits from the store works again");
      this.#readFailing = false;
    } catch (error) {
      // said once per failure, not every second while the store is down
      if (!this.#readFailing) {
        this.#log.warn("could not read missed commits from the store; trying every second", {
          cause: (error as Error).message,
        });
      }
      this.#readFailing = true;
    }
  }

  /**
   * A change to rooms or moderation made here, for the other nodes (at most once, as all the
   * bus carries: a lost one leaves their copy stale until the next change of that room).
   */
  publish(event: ClusterEvent): void {
    const data = encode({ node: this.node, event });
    // a frame is within MAX_FRAME_BYTES by construction; this only keeps a bug off the bus
    if (data.length > MAX_EVENT_BYTES) return this.#drop(`outgoing ${event.kind} (too large)`);
    this.#bus.publish(this.#subjects.event, data);
  }

  /** Heartbeats, dead nodes, and reading what the bus may have lost. */
  tick(now: number): void {
    if (now - this.#lastBeat >= HEARTBEAT_MS) this.#beat(now);
    for (const user of this.roster.expire()) {
      this.#log.info("left with their node", { id: user.id });
      if (!this.#hooks.isHere(user.id)) this.#hooks.left(user);
    }
    if (now - this.#lastPoll >= COMMIT_POLL_MS) {
      this.#lastPoll = now;
      this.catchUp();
    }
    // any number of reconnects since the last tick (NATS flapping) are one resync
    if (this.#bus.reconnects !== this.#reconnects) {
      this.#reconnects = this.#bus.reconnects;
      this.#log.info("the bus was away: reading rooms and moderation from the store again");
      this.#hooks.resync?.();
    }
  }

  /** Says this node is stopping (its people leave everywhere at once), then leaves the bus. */
  async stop(): Promise<void> {
    this.#presence({ kind: "stop", node: this.node });
    await this.#bus.close();
  }

  /** Where delivery starts: after the store's newest commit, with its newest seq. */
  #startingPoint(): { commitNo: number; seq: number } {
    // two reads: a commit landing between them would be counted in one and not the other
    for (let attempt = 0; attempt < 10; attempt++) {
      const commitNo = this.#store.latestCommitNo();
      const seq = this.#store.latestSeq();
      if (this.#store.latestCommitNo() === commitNo) return { commitNo, seq };
    }
    throw new Error("the store kept changing while this node read where it starts");
  }

  #deliverable(commit: Commit) {
    return {
      commitNo: commit.commitNo,
      maxSeq: maxSeqOf(commit.messages),
      run: () => this.#hooks.deliver(commit),
    };
  }

  /** A purge read from the store, with whom to tell (its tombstone). */
  #purgeOf(purge: Purge): CommittedPurge[] {
    const stone = this.#store.tombstone(purge.id);
    if (!stone) return [];
    const { id, from, to, room } = stone;
    return [{ id, from, ...(to ? { to } : {}), ...(room ? { room } : {}), reason: purge.reason }];
  }

  #onCommit(data: Uint8Array): void {
    const message = decode(CommitMessage, data);
    if (!message) {
      const elided = decode(ElidedCommit, data);
      if (!elided) return this.#drop("commit");
      // committed before it was announced: the store has it (one read, as for a lost one)
      if (elided.node !== this.node && elided.commitNo > this.sequencer.delivered) this.catchUp();
      return;
    }
    if (message.node === this.node) return;
    const { node: _, ...commit } = message;
    this.sequencer.offer(this.#deliverable(commit));
  }

  #onEvent(data: Uint8Array): void {
    // read no further than the bound: a large message is refused before it is parsed
    if (data.length > MAX_EVENT_BYTES) return this.#drop("event");
    const message = decode(EventMessage, data);
    if (!message) return this.#drop("event");
    if (message.node === this.node) return;
    try {
      this.#hooks.event?.(message.event);
    } catch (error) {
      // one event that cannot be applied must not stop the bus's delivery of the next
      this.#log.warn("could not apply a bus event", {
        kind: message.event.kind,
        cause: (error as Error)?.message,
      });
    }
  }

  #onPresence(data: Uint8Array): void {
    const message = decode(PresenceMessage, data);
    if (!message) return this.#drop("presence");
    if (message.node === this.node) return;
    switch (message.kind) {
      case "join":
        return this.#remoteJoin(message.node, message.user, message.since);
      case "leave": {
        const user = this.roster.leave(message.node, message.id);
        if (user && !this.#hooks.isHere(user.id)) this.#hooks.left(user);
        return;
      }
      case "beat": {
        // someone online here and there: their join may have been lost on the bus; the newer
        // login holds, as when it is heard of (else both sessions would stay, each node
        // ignoring the other's)
        for (const { user, since } of message.users) {
          if (this.#here.has(user.id)) this.#remoteJoin(message.node, user, since);
        }
        const users = message.users
          .filter((u) => !this.#here.has(u.user.id))
          .map((u) => ({ ...u, node: message.node }));
        const change = this.roster.beat(message.node, users, message.complete);
        for (const { user } of change.joined) this.#hooks.joined(user);
        for (const user of change.left) this.#hooks.left(user);
        return;
      }
      case "stop":
        for (const user of this.roster.drop(message.node)) {
          if (!this.#hooks.isHere(user.id)) this.#hooks.left(user);
        }
    }
  }

  /**
   * `user` logged in on `node`. Online here too: the newer login holds (ties go to the larger
   * node name), so two nodes that hear of each other's login at once agree on the one to end.
   */
  #remoteJoin(node: string, user: User, since: number): void {
    const here = this.#here.get(user.id);
    if (here) {
      const theirsNewer = since > here.since || (since === here.since && node > this.node);
      if (!theirsNewer) return; // ours holds; that node ends its own when it hears of ours
      this.#here.delete(user.id);
      this.#hooks.replaced(user.id);
      this.roster.join(node, user, since);
      return; // the person stayed online: nobody needs to hear of it
    }
    if (this.roster.join(node, user, since)) this.#hooks.joined(user);
  }

  #beat(now: number): void {
    this.#lastBeat = now;
    const users = [...this.#here.values()].slice(0, HEARTBEAT_USERS_LIMIT);
    this.#presence({
      kind: "beat",
      node: this.node,
      users: users.map(({ user, since }) => ({ user, since })),
      complete: users.length === this.#here.size,
    });
  }

  #presence(message: PresenceMessage): void {
    this.#bus.publish(this.#subjects.presence, encode(message));
  }

  /** A bus message that did not parse: dropped, and said now and then. */
  #drop(what: string): void {
    if (this.#dropped++ % 1000 === 0) {
      this.#log.warn("dropped a bus message that does not parse", { what, count: this.#dropped });
    }
  }
}
