/**
 * Rooms and moderation read again from the store after the bus was away (cluster.ts sees the
 * reconnect). NATS delivers at most once: the room events it lost meanwhile (a topic, a kick, a
 * mute, a server ban, a room removed) are not repeated, and PostgreSQL has what they changed.
 *
 * What it costs: one read of every room and one of the server's bans, applied at once (so no bus
 * event can come between a read and its use), then one read per user online of their rooms, in
 * slices of at most RESYNC_SLICE_MS so that the node goes on serving meanwhile. At most one runs
 * at a time; reconnects heard meanwhile (a flapping bus) make one more after it, never several.
 */
import { type Log, silentLog } from "../log.ts";
import type { Moderation } from "../moderation.ts";
import type { Rooms } from "../rooms.ts";
import type { Store } from "../store/store.ts";

/** The longest a slice of the per-user reads blocks the event loop before it yields. */
export const RESYNC_SLICE_MS = 20;
/** How long after a failed read (the store down too) the resync starts again. */
export const RESYNC_RETRY_MS = 1_000;

export interface ResyncOptions {
  store: Pick<Store, "rooms" | "droppedRooms" | "roomsOf">;
  rooms: Pick<Rooms, "mend" | "usersOnline" | "mendMember">;
  moderation: Pick<Moderation, "forgetRoom" | "forgetMutes" | "mendServerBans">;
  /** Runs `fn` after `ms` (the hub's: setTimeout, or a test's). */
  later: (fn: () => void, ms: number) => void;
  log?: Log;
  /** Real time in ms, for the slices (performance.now). */
  clock?: () => number;
}

/** What the last resync did and cost. */
export interface ResyncReport {
  rooms: number;
  /** Rooms gone from the store that this node still had. */
  removed: number;
  /** Server bans that covered a connection here (cut). */
  bans: number;
  users: number;
  /** Rooms a user online here was found out of. */
  outOf: number;
  /** The first step (rooms and bans read and applied), in ms: the longest the node blocks. */
  firstMs: number;
  /** Of which reading the rooms, in ms. */
  readMs: number;
  /** The longest slice of per-user reads, in ms. */
  sliceMs: number;
  slices: number;
  /** From start to end, yields included, in ms. */
  totalMs: number;
}

export class Resync {
  readonly #store: ResyncOptions["store"];
  readonly #rooms: ResyncOptions["rooms"];
  readonly #moderation: ResyncOptions["moderation"];
  readonly #later: ResyncOptions["later"];
  readonly #log: Log;
  readonly #clock: () => number;
  #running = false;
  #again = false;
  /** How many resyncs ended. */
  done = 0;
  last?: ResyncReport;

  constructor(options: ResyncOptions) {
    this.#store = options.store;
    this.#rooms = options.rooms;
    this.#moderation = options.moderation;
    this.#later = options.later;
    this.#log = options.log ?? silentLog;
    this.#clock = options.clock ?? (() => performance.now());
  }

  /** Whether one is under way (its slices not all done). */
  get running(): boolean {
    return this.#running;
  }

  /** Reads rooms and moderation again; while one runs, one more after it (however many asks). */
  request(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#again = false;
    this.#start();
  }

  #start(): void {
    const started = this.#clock();
    let report: ResyncReport;
    let users: string[];
    try {
      const stored = this.#store.rooms();
      const dropped = this.#store.droppedRooms();
      const readMs = this.#clock() - started;
      const removed = this.#rooms.mend(stored, dropped);
      for (const room of removed) this.#moderation.forgetRoom(room);
      this.#moderation.forgetMutes();
      const bans = this.#moderation.mendServerBans();
      users = this.#rooms.usersOnline();
      const firstMs = this.#clock() - started;
      report = {
        rooms: stored.length,
        removed: removed.length,
        bans,
        users: users.length,
        outOf: 0,
        firstMs,
        readMs,
        sliceMs: 0,
        slices: 0,
        totalMs: 0,
      };
    } catch (error) {
      return this.#failed(error);
    }
    this.#slice(users, 0, report, started);
  }

  /** Mends the rooms of `users` from `from` on, for at most RESYNC_SLICE_MS, then yields. */
  #slice(users: readonly string[], from: number, report: ResyncReport, started: number): void {
    const start = this.#clock();
    let i = from;
    try {
      // at least one per slice, however slow the store
      do {
        if (i >= users.length) break;
        const id = users[i++];
        report.outOf += this.#rooms.mendMember(id, this.#store.roomsOf(id));
      } while (this.#clock() - start < RESYNC_SLICE_MS);
    } catch (error) {
      return this.#failed(error);
    }
    report.slices++;
    report.sliceMs = Math.max(report.sliceMs, this.#clock() - start);
    if (i < users.length) return this.#later(() => this.#slice(users, i, report, started), 0);
    report.totalMs = this.#clock() - started;
    this.last = report;
    this.done++;
    this.#log.info("rooms and moderation read again from the store", {
      rooms: report.rooms,
      removed: report.removed,
      bans: report.bans,
      users: report.users,
      outOf: report.outOf,
      firstMs: Math.round(report.firstMs),
      sliceMs: Math.round(report.sliceMs),
      slices: report.slices,
      totalMs: Math.round(report.totalMs),
    });
    this.#running = false;
    if (this.#again) this.request();
  }

  /** A read failed (the store is down too): all of it again a little later. */
  #failed(error: unknown): void {
    this.#log.warn("could not read rooms and moderation from the store; trying again", {
      cause: (error as Error)?.message,
    });
    this.#later(() => this.#start(), RESYNC_RETRY_MS);
  }
}
