/**
 * What users read of the past: the backlog a joining user is shown (read a page at a time as
 * their connection drains), `history` pages, and `search` (run off the event loop by the
 * searcher). Every list is cut to fit one frame.
 */
import { ErrorCode, type History, MAX_SEARCH_RESULTS, type Search } from "../protocol/schema.ts";
import { encodeFrame } from "../protocol/codec.ts";
import { Backlog, planBacklog } from "./backlog.ts";
import { messagesInFrame, reply } from "./frames.ts";
import { type Log, silentLog } from "./log.ts";
import type { Peer } from "./peer.ts";
import { notInRoom, type Rooms } from "./rooms.ts";
import type { Searcher } from "./search/searcher.ts";
import type { Store } from "./store/store.ts";

/** Public history a newcomer is shown on joining. */
export const HISTORY_ON_JOIN = 50;
/** Most messages replayed on resume, or direct messages delivered on join. */
export const REPLAY_LIMIT = 10_000;

export class Histories {
  readonly #store: Store;
  readonly #searcher: Searcher;
  readonly #rooms: Rooms;
  readonly #log: Log;
  readonly #latestSeq?: () => number;

  constructor(
    options: {
      store: Store;
      searcher: Searcher;
      rooms: Rooms;
      log?: Log;
      /**
       * The newest seq fanned out on this server, where a backlog ends and live frames begin
       * (default: the store's newest; a node of a cluster may not have sent out all of it yet).
       */
      latestSeq?: () => number;
    },
  ) {
    this.#latestSeq = options.latestSeq;
    this.#store = options.store;
    this.#searcher = options.searcher;
    this.#rooms = options.rooms;
    this.#log = options.log ?? silentLog;
  }

  /** Whether a request about `room` may go on; if not, the peer is told (as for no such room). */
  #inRoom(peer: Peer, userId: string, ref: string, room: string | undefined): boolean {
    if (room === undefined || this.#rooms.isIn(userId, room)) return true;
    reply(peer, { type: "error", ref, code: ErrorCode.notFound, message: notInRoom(room) });
    return false;
  }

  /** The backlog of a user who just joined, read page by page as their connection drains. */
  backlog(peer: Peer, userId: string, lastSeq: number, resume?: string): void {
    let backlog: Backlog;
    try {
      const resumeSeq = resume ? this.#store.seqOf(resume) : null;
      backlog = new Backlog(
        this.#store,
        userId,
        planBacklog(this.#store, userId, {
          resumeSeq,
          lastSeq,
          recent: HISTORY_ON_JOIN,
          limit: REPLAY_LIMIT,
          upto: this.#latestSeq?.(),
        }),
      );
    } catch (error) {
      this.#log.error("could not read a backlog", {
        id: userId,
        cause: (error as Error).message,
      });
      return reply(peer, {
        type: "error",
        code: ErrorCode.unavailable,
        message: "the server could not read your history just now; it goes on without it",
      });
    }
    if (peer.replay) return peer.replay(backlog);
    for (let frames = backlog.next(); frames; frames = backlog.next()) {
      for (const frame of frames) peer.send(encodeFrame(frame));
    }
  }

  /**
   * A page of what `userId` may see (of one room, when it names one) before a message: newest
   * last, the newest that fit.
   */
  history(peer: Peer, userId: string, frame: History): void {
    if (!this.#inRoom(peer, userId, frame.ref, frame.room)) return;
    const messages = this.#store.visibleBefore(userId, frame.before, frame.limit, frame.room);
    const fitting = messagesInFrame(messages.reverse()).reverse();
    reply(peer, { type: "results", ref: frame.ref, total: messages.length, messages: fitting });
  }

  /**
   * Search runs off the event loop (a worker with its own connection to the database): the
   * answer comes when it is done, and the searcher keeps its own bounds (pattern size, time,
   * a few per user, a short queue).
   */
  search(peer: Peer, userId: string, frame: Search): void {
    if (!this.#inRoom(peer, userId, frame.ref, frame.room)) return;
    const request = {
      userId,
      pattern: frame.pattern,
      limit: MAX_SEARCH_RESULTS,
      ...(frame.room !== undefined ? { room: frame.room } : {}),
    };
    this.#searcher.search(request).then((outcome) => {
      if (!outcome.ok) {
        const { code, message } = outcome;
        return reply(peer, { type: "error", ref: frame.ref, code, message });
      }
      const messages = messagesInFrame(outcome.messages);
      reply(peer, { type: "results", ref: frame.ref, total: outcome.total, messages });
    }, (error) => {
      this.#log.error("a search failed", { cause: (error as Error)?.message });
      reply(peer, {
        type: "error",
        ref: frame.ref,
        code: ErrorCode.internal,
        message: "the server failed on that search; try again later",
      });
    });
  }
}
