/**
 * A backlog (what a joining or resuming user is shown) read from the store a page at a time, as
 * the connection drains. Nothing but one page of messages and one of purges is held in memory,
 * however long the backlog: a client that resumes from its oldest id and never reads pins a page,
 * not the history.
 */
import { ErrorCode, type ServerFrame } from "../protocol/schema.ts";
import type { Purge, PurgeRange, Store, StoredMessage } from "./store/store.ts";
import { toFrame } from "./frames.ts";

/** Messages (and purges) read from the store at a time. */
export const BACKLOG_PAGE = 64;

/** Hands out a backlog in order, a page at a time. */
export interface BacklogSource {
  /** The next frames, oldest first; null when the backlog is done. */
  next(): ServerFrame[] | null;
}

/** A run of messages to replay: seq in (after, upto], all the user may see or only direct ones. */
export interface Segment {
  after: number;
  upto: number;
  directOnly: boolean;
}

export interface BacklogPlan {
  /** Message runs, replayed one after another. */
  segments: Segment[];
  /** Purges to replay among them, each right after the newest message of its moment. */
  purges?: PurgeRange;
  /** Frames that go before everything else (a notice that the backlog was cut). */
  prefix?: ServerFrame[];
}

export class Backlog implements BacklogSource {
  readonly #store: Store;
  readonly #userId: string;
  readonly #segments: Segment[];
  #purges?: PurgeRange;
  #prefix: ServerFrame[];
  #messagePage: StoredMessage[] = [];
  #messageAt = 0;
  #purgePage: Purge[] = [];
  #purgeAt = 0;

  constructor(store: Store, userId: string, plan: BacklogPlan) {
    this.#store = store;
    this.#userId = userId;
    this.#segments = plan.segments.filter((s) => s.after < s.upto).map((s) => ({ ...s }));
    this.#purges = plan.purges && { ...plan.purges };
    this.#prefix = plan.prefix ?? [];
  }

  next(): ServerFrame[] | null {
    const out = this.#prefix;
    this.#prefix = [];
    while (out.length < BACKLOG_PAGE) {
      const message = this.#peekMessage();
      const purge = this.#peekPurge();
      if (!message && !purge) break;
      // a purge belongs right after the message that was newest when it happened
      if (purge && (!message || purge.after < message.seq)) {
        out.push({ type: "deleted", id: purge.id, reason: purge.reason });
        this.#purgeAt++;
      } else {
        out.push(toFrame(message!, true));
        this.#messageAt++;
      }
    }
    return out.length > 0 ? out : null;
  }

  #peekMessage(): StoredMessage | undefined {
    while (this.#messageAt >= this.#messagePage.length && this.#segments.length > 0) {
      const segment = this.#segments[0];
      this.#messagePage = this.#store.messagesAfter(
        this.#userId,
        segment.after,
        segment.upto,
        BACKLOG_PAGE,
        segment.directOnly,
      );
      this.#messageAt = 0;
      if (this.#messagePage.length < BACKLOG_PAGE) this.#segments.shift();
      else segment.after = this.#messagePage[this.#messagePage.length - 1].seq;
    }
    return this.#messagePage[this.#messageAt];
  }

  #peekPurge(): Purge | undefined {
    if (this.#purgeAt >= this.#purgePage.length && this.#purges) {
      this.#purgePage = this.#store.purgesAfter(this.#userId, this.#purges, BACKLOG_PAGE);
      this.#purgeAt = 0;
      const last = this.#purgePage[this.#purgePage.length - 1];
      if (this.#purgePage.length < BACKLOG_PAGE) this.#purges = undefined;
      else this.#purges.from = { after: last.after, seq: last.seq };
    }
    return this.#purgePage[this.#purgeAt];
  }
}

/**
 * What a joining user is shown. Resuming from a known message: every message after it and every
 * deletion or expiry of an earlier one since, in the order they happened — the newest
 * `limit` when more were missed, after a notice. Otherwise: the `recent` newest messages they may
 * see, preceded by the direct messages that came while they were away (the newest `limit`).
 * Null `resumeSeq`: not resuming (or from an id the store does not know).
 */
export function planBacklog(
  store: Store,
  userId: string,
  options: {
    resumeSeq: number | null;
    lastSeq: number;
    recent: number;
    limit: number;
    /** The newest seq already sent out live (default: the store's newest; see cluster/). */
    upto?: number;
  },
): BacklogPlan {
  const upto = options.upto ?? store.latestSeq();
  const { resumeSeq, lastSeq, recent, limit } = options;
  if (resumeSeq !== null) {
    const cut = store.newestStart(userId, resumeSeq, upto, limit);
    const from = cut ?? resumeSeq;
    const prefix: ServerFrame[] = cut === null ? [] : [{
      type: "error",
      code: ErrorCode.backlogTruncated,
      message: `you missed more than ${limit} messages; only the newest ${limit} follow`,
    }];
    return {
      segments: [{ after: from, upto, directOnly: false }],
      purges: { atOrBefore: resumeSeq, since: from, upto },
      prefix,
    };
  }
  const recentFrom = store.newestStart(userId, 0, upto, recent) ?? 0;
  const directFrom = store.newestStart(userId, lastSeq, recentFrom, limit, true) ?? lastSeq;
  return {
    segments: [
      { after: directFrom, upto: recentFrom, directOnly: true },
      { after: recentFrom, upto, directOnly: false },
    ],
  };
}
