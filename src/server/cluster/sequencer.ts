/**
 * One order for every node: commits are numbered by the store without gaps, in the order they
 * committed (store/postgres.ts: one advisory lock, one counter). A node delivers commit n only
 * after n − 1, whoever made them. A commit that arrives early over the bus, or one the bus lost,
 * is read from the store (which has every committed one), so a gap costs a read, never the order.
 * Pure: the store and the delivery are handed in.
 */
import type { Purged, StoredMessage } from "../store/store.ts";

/** A purge as every node delivers it: whom to tell, why, and the operator who deleted it. */
export interface CommittedPurge extends Purged {
  reason: "deleted" | "expired";
  by?: string;
}

/** What one commit did, as every node delivers it. */
export interface Commit {
  commitNo: number;
  messages: StoredMessage[];
  purges: CommittedPurge[];
}

/** Where missed commits are read from. */
export interface CommitSource {
  latestCommitNo(): number;
  /** Commits after `commitNo`, in order, at most `limit`. */
  commitsAfter(commitNo: number, limit: number): Commit[];
}

/** A commit ready to go out on this node: its number, its newest seq, and what delivers it. */
export interface Deliverable {
  commitNo: number;
  maxSeq: number;
  run(): void;
}

/** Commits read from the store at once when catching up. */
export const CATCH_UP_PAGE = 200;
/**
 * Commits from the bus held while an earlier one is missing, at most: beyond it they are
 * dropped and read from the store later (this node's own are always held: they carry acks).
 */
export const MAX_HELD_COMMITS = 10_000;

/** The newest seq among a commit's messages (0 when none). */
export function maxSeqOf(messages: readonly { seq: number }[]): number {
  let max = 0;
  for (const message of messages) if (message.seq > max) max = message.seq;
  return max;
}

export class Sequencer {
  readonly #source: CommitSource;
  readonly #fromStore: (commit: Commit) => Deliverable;
  #delivered: number;
  #deliveredSeq: number;
  /** Commits that came before their turn, by number. */
  readonly #held = new Map<number, Deliverable & { own: boolean }>();
  /**
   * The store could not give a missing commit (failing, or not visible yet): it is asked again
   * at the next poll, not on every commit that arrives meanwhile (each ask may wait on it).
   */
  #untilPoll = false;

  /**
   * Starts after `start` (what the store held when this node started: history, not news);
   * `fromStore` makes a commit read from the store deliverable.
   */
  constructor(
    source: CommitSource,
    fromStore: (commit: Commit) => Deliverable,
    start: { commitNo: number; seq: number },
  ) {
    this.#source = source;
    this.#fromStore = fromStore;
    this.#delivered = start.commitNo;
    this.#deliveredSeq = start.seq;
  }

  /** The last commit delivered on this node. */
  get delivered(): number {
    return this.#delivered;
  }

  /**
   * The newest message seq delivered on this node: a backlog reads up to here, and everything
   * after reaches a new connection live, so nothing comes twice or not at all.
   */
  get deliveredSeq(): number {
    return this.#deliveredSeq;
  }

  /** Commits waiting for an earlier one. */
  get held(): number {
    return this.#held.size;
  }

  /**
   * A commit, this node's (`own`: its acks ride on it) or another's: delivered now when its turn
   * has come, after reading any missed before it from the store; held when the store cannot say
   * yet; ignored when delivered already. A store that fails leaves it held for {@link poll}.
   */
  offer(commit: Deliverable, own = false): void {
    if (commit.commitNo <= this.#delivered) return;
    if (!own && this.#held.size >= MAX_HELD_COMMITS) return; // read from the store later
    this.#held.set(commit.commitNo, { ...commit, own });
    this.#drain();
  }

  /**
   * The safety net for a bus that lost or delays something: delivers what the store has beyond
   * what was delivered, at most `maxCommits` this call. Throws what the store throws.
   */
  poll(maxCommits = CATCH_UP_PAGE): void {
    this.#untilPoll = false;
    const latest = this.#source.latestCommitNo();
    if (latest > this.#delivered) this.#readUpTo(latest, maxCommits);
    this.#drain();
  }

  /** Delivers held commits in turn, reading the missing ones before a held one. */
  #drain(): void {
    while (this.#held.size > 0) {
      const next = this.#held.get(this.#delivered + 1);
      if (next) {
        this.#held.delete(next.commitNo);
        this.#take(next);
        continue;
      }
      if (this.#untilPoll) return;
      const first = Math.min(...this.#held.keys());
      if (first <= this.#delivered) {
        this.#held.delete(first); // read from the store meanwhile
        continue;
      }
      try {
        if (!this.#readUpTo(first - 1, first - 1 - this.#delivered)) {
          return void (this.#untilPoll = true);
        }
      } catch {
        return void (this.#untilPoll = true); // the store is failing: held until a poll gets through
      }
    }
  }

  /** Reads and delivers commits up to `upto` from the store; whether it got there. */
  #readUpTo(upto: number, maxCommits: number): boolean {
    let budget = maxCommits;
    while (this.#delivered < upto && budget > 0) {
      const limit = Math.min(CATCH_UP_PAGE, upto - this.#delivered, budget);
      const page = this.#source.commitsAfter(this.#delivered, limit);
      if (page.length === 0) return false; // not visible yet: later
      for (const commit of page) {
        if (commit.commitNo !== this.#delivered + 1) {
          throw new Error(`the store gave commit ${commit.commitNo} after ${this.#delivered}`);
        }
        const held = this.#held.get(commit.commitNo);
        this.#held.delete(commit.commitNo);
        // one that came over the bus carries more (its acks, who deleted): it goes rather than the copy
        this.#take(held ?? this.#fromStore(commit));
        budget--;
      }
    }
    return this.#delivered >= upto;
  }

  #take(commit: Deliverable): void {
    this.#delivered = commit.commitNo;
    if (commit.maxSeq > this.#deliveredSeq) this.#deliveredSeq = commit.maxSeq;
    commit.run();
  }
}
