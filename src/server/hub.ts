/**
 * The hub wires the server's core together; it owns no sockets and reads no clock of its own
 * (peers and the clock are handed in), so tests drive it with plain objects. Each part owns its
 * state:
 *
 * - admission.ts — hello: password, tokens, ids, sessions;
 * - presence.ts — who is online, and telling everyone;
 * - away.ts — who is away, shown in `who` and said once to whoever writes to them;
 * - rooms.ts — rooms, who is in which, and telling a room's members;
 * - moderation.ts — operators, kicks, bans and mutes, and the moderation log;
 * - messages.ts — send, delete and expiry through one group commit, then fan-out and acks;
 * - history.ts — backlogs, history pages and search;
 * - limiters.ts — rate limits per user and per address;
 * - handlers.ts — the table of client frames, one row each;
 * - cluster/ — in a cluster: commits in one order on every node, and who is online elsewhere.
 */
import { MAX_FRAME_BYTES } from "../protocol/codec.ts";
import {
  type ClientFrame,
  ErrorCode,
  type Hello,
  type Limits,
  MAX_RECIPIENTS,
  MAX_TEXT_LENGTH,
  type ServerFrame,
  type User,
} from "../protocol/schema.ts";
import { Admissions } from "./admission.ts";
import type { Bus } from "./cluster/bus.ts";
import { Cluster, type CommitLog } from "./cluster/cluster.ts";
import { Resync } from "./cluster/resync.ts";
import type { ClusterEvent, Elsewhere } from "./cluster/wire.ts";
import { Away } from "./away.ts";
import { HANDLERS } from "./handlers.ts";
import { reply, toFrame } from "./frames.ts";
import { Histories } from "./history.ts";
import { Limiters, type LimitKind } from "./limiters.ts";
import { IDLE_TIMEOUT_MS } from "./limits.ts";
import { type Log, silentLog } from "./log.ts";
import { Messages } from "./messages.ts";
import * as metrics from "./metrics.ts";
import { Moderation } from "./moderation.ts";
import type { Peer } from "./peer.ts";
import { Presence, PRESENCE_NAMES_LIMIT, USERS_LIST_LIMIT } from "./presence.ts";
import { Rooms } from "./rooms.ts";
import { resolveRecipients } from "./routing.ts";
import { InlineSearcher } from "./search/inline.ts";
import type { Searcher } from "./search/searcher.ts";
import { StoreHealth } from "./store/health.ts";
import type { Store } from "./store/store.ts";

export { toFrame };
export type { Peer };
export { MAX_SESSIONS_PER_USER, TOKEN_REUSE_GRACE_MS } from "./admission.ts";
export { HISTORY_ON_JOIN, REPLAY_LIMIT } from "./history.ts";
export {
  DEFAULT_MAX_RATE,
  MAX_RATE_STRIKES,
  SEARCH_ADDRESS_BURST,
  SEARCH_BURST,
  SEARCHES_PER_ADDRESS_PER_MINUTE,
  SEARCHES_PER_MINUTE,
} from "./limiters.ts";
export { EXPIRIES_PER_TICK, EXPIRY_RETRY_MS, SENT_REF_TTL_MS } from "./messages.ts";
export { PRESENCE_INTERVAL_MS, PRESENCE_NAMES_LIMIT, USERS_LIST_LIMIT } from "./presence.ts";
export { MAX_ROOMS_PER_USER, MEMBERS_LIST_LIMIT } from "./rooms.ts";

export { IDLE_TIMEOUT_MS };
/** How often idle rate-limit state and old request refs are forgotten. */
const PRUNE_INTERVAL_MS = 60_000;

export interface HubOptions {
  store: Store;
  /** Runs searches (default: on this thread, for in-memory stores; the server uses a worker). */
  searcher?: Searcher;
  /**
   * The server-wide output budget: messages accepted but not yet fanned out count in it at what
   * they will cost, so senders are paused within the turn that would overfill it.
   */
  budget?: { change(delta: number): void };
  version: string;
  /** The server password, when one is set. */
  password?: string;
  /** Messages per second per user, sustained; 0 turns the limit off. */
  maxRate?: number;
  /** Messages per second from one address, sustained (default ADDRESS_RATE_FACTOR × maxRate); 0: off. */
  maxRatePerAddress?: number;
  /** New ids per hour per address (default DEFAULT_NEW_IDS_PER_ADDRESS_PER_HOUR); 0: no limit. */
  newIdsPerAddressPerHour?: number;
  /** Rooms created per hour per address (default DEFAULT_NEW_ROOMS_PER_ADDRESS_PER_HOUR); 0: no limit. */
  newRoomsPerAddressPerHour?: number;
  /** Rooms the server keeps at most (default DEFAULT_MAX_ROOMS). */
  maxRooms?: number;
  /** Silence after which a connection is cut (default IDLE_TIMEOUT_MS); told to clients. */
  idleTimeoutMs?: number;
  now?: () => number;
  /** Runs `fn` once the current turn of the event loop is done (the group commit's cue). */
  defer?: (fn: () => void) => void;
  /** Runs `fn` after `ms` (setTimeout by default; tests pass a fake). */
  later?: (fn: () => void, ms: number) => void;
  digits?: () => string;
  log?: Log;
  /** One node of a cluster: the bus to the others, and the store's commit log (PostgreSQL). */
  cluster?: { bus: Bus; store: CommitLog; node?: string };
}

export class Hub {
  readonly version: string;
  readonly presence = new Presence();
  readonly away = new Away();
  readonly rooms: Rooms;
  readonly moderation: Moderation;
  readonly admissions: Admissions;
  readonly messages: Messages;
  readonly histories: Histories;
  readonly limiters: Limiters;
  /** This node's part in a cluster (absent on a single server). */
  readonly cluster?: Cluster;
  /** Rooms and moderation read again from the store when the bus comes back (in a cluster). */
  readonly resync?: Resync;
  readonly #store: Store;
  readonly #health: StoreHealth;
  readonly #log: Log;
  readonly #now: () => number;
  readonly #later: (fn: () => void, ms: number) => void;
  readonly #idleTimeoutMs: number;
  #lastPrune = 0;
  /** Shutting down: leaving is nobody's news. */
  #stopping = false;

  constructor(options: HubOptions) {
    const store = options.store;
    const now = options.now ?? Date.now;
    const log = options.log ?? silentLog;
    const health = new StoreHealth(log, now);
    this.version = options.version;
    this.#store = store;
    this.#health = health;
    this.#log = log;
    this.#now = now;
    this.#later = options.later ?? ((fn, ms) => void setTimeout(fn, ms));
    this.#idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.admissions = new Admissions({
      store,
      health,
      password: options.password,
      newIdsPerAddressPerHour: options.newIdsPerAddressPerHour,
      banned: (userId, address) => this.moderation.bannedFromServer(userId, address),
      now,
      digits: options.digits,
      log,
    });
    const resolve = (typed: string) =>
      resolveRecipients([typed], this.presence.named([typed]), (id) => store.canonicalId(id));
    // rooms and moderation are made before the cluster (whose hooks reach them): they reach it so
    const elsewhere: Elsewhere | undefined = options.cluster
      ? { publish: (event) => this.cluster?.publish(event) }
      : undefined;
    this.rooms = new Rooms({
      store,
      health,
      allowCreate: (peer, userId, ref) => this.limiters.allow("createRoom", peer, userId, ref),
      maxRooms: options.maxRooms,
      peerOf: (id) => this.presence.peer(id),
      resolve,
      mark: (users) => this.away.mark(users),
      bannedFrom: (userId, room) => this.moderation.bannedFrom(userId, room),
      elsewhere,
      now,
      log,
    });
    this.moderation = new Moderation({
      store,
      health,
      rooms: this.rooms,
      presence: this.presence,
      resolve,
      dropMessages: (room) => this.messages.dropRoom(room),
      elsewhere,
      now,
      log,
    });
    if (options.cluster) {
      this.resync = new Resync({
        store,
        rooms: this.rooms,
        moderation: this.moderation,
        later: this.#later,
        log,
      });
      this.cluster = new Cluster({
        ...options.cluster,
        now,
        log,
        hooks: {
          deliver: (commit) => this.messages.deliverCommit(commit),
          replaced: (id) => this.#replacedElsewhere(id),
          joined: (user) =>
            this.presence.announce({ type: "presence", joined: user, online: this.presence.size }),
          left: (user) =>
            this.presence.announce({ type: "presence", left: user, online: this.presence.size }),
          isHere: (id) => this.presence.peer(id) !== undefined,
          event: (event) => this.#fromElsewhere(event),
          resync: () => this.resync?.request(),
        },
      });
      this.presence.attach(this.cluster.roster);
    }
    this.messages = new Messages({
      store,
      presence: this.presence,
      rooms: this.rooms,
      health,
      budget: options.budget,
      log,
      now,
      defer: options.defer,
      onDirect: (peer, message) => this.away.answer(peer, message.from, message.to),
      muted: (userId, room) => this.moderation.muted(userId, room),
      operates: (userId, room) => this.moderation.operates(userId, room),
      deletedBy: (by, purged) => this.moderation.deleted(by, purged),
      roomDropped: (room) => this.rooms.dropped(room),
      order: this.cluster,
    });
    this.histories = new Histories({
      store,
      searcher: options.searcher ?? new InlineSearcher(store),
      rooms: this.rooms,
      log,
      latestSeq: () => this.#latestSeq(),
    });
    this.limiters = new Limiters({
      maxRate: options.maxRate,
      maxRatePerAddress: options.maxRatePerAddress,
      newRoomsPerAddressPerHour: options.newRoomsPerAddressPerHour,
      now,
      log,
      // what a flooder sent before it is cut is stored and acknowledged first
      beforeCut: () => this.messages.flush(),
    });
    this.cluster?.start();
    // anything that came due while the server was down goes now
    this.tick();
  }

  /** The newest message seq fanned out here: a node of a cluster may be behind the store. */
  #latestSeq(): number {
    return this.cluster ? this.cluster.sequencer.deliveredSeq : this.#store.latestSeq();
  }

  /** `id` logged in on another node since: their connection here ends without a "left". */
  #replacedElsewhere(id: string): void {
    const peer = this.presence.peer(id);
    if (!peer) return;
    this.#leave(peer);
    peer.user = undefined;
    peer.close("replaced", "you joined again from another connection");
  }

  /** What another node did to rooms or moderation, applied here (cluster/wire.ts). */
  #fromElsewhere(event: ClusterEvent): void {
    switch (event.kind) {
      case "room":
        return this.rooms.stateHere(event.state, event);
      case "dropping":
        this.rooms.dropHere(event.room);
        return this.moderation.forgetRoom(event.room);
      case "gone":
        return this.rooms.goneHere(event.room);
      case "toRoom":
        return this.rooms.toMembersHere(event.room, event.frame, event.except);
      case "toUser":
        return this.rooms.toUserHere(event.user, event.frame, event.unlessIn);
      case "putOut":
        return this.rooms.putOutHere(event.user, event.room);
      case "restricted":
        return this.moderation.forgetMuteHere(event.user, event.scope);
      case "serverBan":
        return this.moderation.cutHere(event.user, event.address, event.why);
    }
  }

  /**
   * The periodic work, each part cheap when there is nothing to do. The server calls it every
   * EXPIRY_INTERVAL_MS. A failing store costs a retry later, never the server.
   */
  tick(now = this.#now()): void {
    this.presence.tick(now);
    this.rooms.tick(now);
    this.cluster?.tick(now);
    if (now - this.#lastPrune >= PRUNE_INTERVAL_MS) {
      this.#lastPrune = now;
      this.limiters.prune(now);
      this.admissions.prune(now);
      this.messages.forgetRefs(now);
      this.moderation.prune(now);
    }
    this.messages.expire(now);
  }

  get limits(): Limits {
    return {
      maxFrameBytes: MAX_FRAME_BYTES,
      maxTextLength: MAX_TEXT_LENGTH,
      maxRecipients: MAX_RECIPIENTS,
      heartbeatMs: Math.floor(this.#idleTimeoutMs / 3),
      idleTimeoutMs: this.#idleTimeoutMs,
    };
  }

  /** The time, on the hub's clock. */
  now(): number {
    return this.#now();
  }

  /** Users online now, in the order they joined (at most `limit`). */
  users(limit = Infinity): User[] {
    return this.presence.users(limit);
  }

  /** Handles one validated frame from `peer`, by its row in the table. */
  handle(peer: Peer, frame: ClientFrame): void {
    if (peer.refused) return;
    const handler = HANDLERS[frame.type] as {
      needsHello: boolean;
      limit?: LimitKind;
      handle(hub: Hub, peer: Peer, frame: ClientFrame, user: User | undefined): void;
    };
    const user = peer.user;
    if (handler.needsHello && !user) {
      return reply(peer, {
        type: "error",
        ref: "ref" in frame ? frame.ref : undefined,
        code: ErrorCode.notReady,
        message: "say hello first: no request is served before a successful hello",
      });
    }
    if (
      handler.limit &&
      !this.limiters.allow(handler.limit, peer, user!.id, (frame as { ref: string }).ref)
    ) {
      return;
    }
    handler.handle(this, peer, frame, user);
  }

  /** A `hello`: admitted (online, welcomed, shown the backlog, announced) or refused. */
  hello(peer: Peer, hello: Hello): void {
    if (peer.user) {
      return reply(peer, {
        type: "error",
        code: ErrorCode.alreadyHello,
        message: "this connection has already said hello",
      });
    }
    const admission = this.admissions.admit(peer, hello);
    if (!admission.ok) {
      const { code, reason, message, delayMs } = admission;
      const refuse = () => {
        reply(peer, { type: "error", code, message });
        peer.close(reason, message);
      };
      if (delayMs === 0) return refuse();
      // a wrong guess is answered slowly, and nothing more is heard from it meanwhile
      peer.refused = true;
      return this.#later(refuse, delayMs);
    }
    const { identity, token, sessionId, returning } = admission;
    const user: User = { id: identity.id, name: identity.name };
    // in a cluster, first send out here what other nodes committed: the backlog ends where live
    // frames begin, and one resuming from what another node showed them must not get it twice
    this.cluster?.catchUp();
    peer.sessionId = sessionId;
    const previous = this.presence.add(peer, user);
    // online on another node of the cluster until now: that node ends its connection. This login
    // is newer than that one whatever the two clocks say (a clock behind would make it the older,
    // and that node would keep its session)
    const elsewhere = this.cluster?.roster.get(user.id);
    this.cluster?.joined(user, Math.max(this.#now(), (elsewhere?.since ?? 0) + 1));
    if (previous) {
      // the same person on a new connection: the old one goes quietly, presence does not flicker
      previous.user = undefined;
      previous.close("replaced", "you joined again from another connection");
    }
    const rooms = this.rooms.enter(peer, user, !returning);
    this.moderation.enter(user.id);
    reply(peer, {
      type: "welcome",
      you: user,
      token,
      users: this.away.mark(this.presence.users(Math.min(USERS_LIST_LIMIT, PRESENCE_NAMES_LIMIT))),
      online: this.presence.size,
      rooms,
      limits: this.limits,
      server: { version: this.version },
    });
    const kind = returning ? "returning" : "new";
    metrics.logins.add(1, { kind });
    // still away from before (a dropped connection, another device): said before the backlog
    if (this.away.isAway(user.id)) reply(peer, this.away.frame(user.id));
    this.histories.backlog(peer, user.id, identity.lastSeq, hello.resume);
    if (!previous && !elsewhere) {
      this.#log.info("joined", { id: user.id, address: peer.address, kind });
      this.presence.announce({ type: "presence", joined: user, online: this.presence.size }, peer);
    }
  }

  /** A connection ended (closed, broken or timed out, `reason`): it leaves presence at once. */
  disconnect(peer: Peer, reason?: string): void {
    const user = this.#leave(peer);
    if (!user) return;
    this.cluster?.left(user.id);
    this.#log.info("left", { id: user.id, reason });
    if (this.#stopping) return; // everyone is going: nobody needs to hear who
    this.presence.announce({ type: "presence", left: user, online: this.presence.size });
  }

  /** `peer` leaves presence, its rooms and moderation's memory; its user, if it was online. */
  #leave(peer: Peer): User | undefined {
    const user = this.presence.remove(peer);
    if (!user) return undefined;
    this.rooms.leave(peer, user);
    this.moderation.leave(user.id);
    try {
      this.#store.setLastSeq(user.id, this.#latestSeq());
    } catch (error) {
      // only costs them a repeat of direct messages they had seen, on their next join
      this.#health.failed("recording where a leaving user was", error);
    }
    return user;
  }

  /** Tells everyone the server is going away (after storing what was accepted). */
  shutdown(message: string): void {
    this.messages.flush();
    this.#stopping = true;
    for (const peer of [...this.presence.peers()]) peer.close("shutdown", message);
  }

  /** Group-commits what is waiting now (shutdown, tests). */
  flush(): void {
    this.messages.flush();
  }
}

/** A frame to one peer (tests and the edge use the hub's). */
export type { ServerFrame };
