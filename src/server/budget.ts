/**
 * The server-wide budget for output waiting to be written (queued, held behind a replay, or
 * handed to a socket and not yet flushed), and flow control around it, as InspIRCd and ngircd do:
 *
 * - above the high watermark, a connection that sends a message stops being read (TCP then slows
 *   the sender down) until the total has drained below the low watermark;
 * - over it, a connection whose socket has taken nothing for STALLED_CUT_MS while it holds
 *   output is cut at once, biggest first, until the total is below the low watermark (a reader
 *   that does not read at all must not hold up everyone's sending);
 * - if producers stay paused for OVER_BUDGET_CUT_MS anyway (the total does not drain below the
 *   low watermark), or the total stays above the high one that long, the connections holding
 *   the most are cut until it is below the low one: by then every reader that keeps up has had
 *   time to drain, so those are the readers that do not (they can resume).
 *
 * The per-connection cap still cuts one slow reader among fast ones at once; this bounds the
 * memory that all of them together can hold when everyone is behind.
 */

import { OUTPUT_BUDGET_BYTES } from "./limits.ts";

/** Producers are read again once the total is below this share of the budget. */
export const OUTPUT_RESUME_SHARE = 0.5;
/** Producers paused, or the budget over, for this long: the biggest holders are cut. */
export const OVER_BUDGET_CUT_MS = 3_000;
/** Over budget, a connection whose socket has taken nothing for this long is cut at once. */
export const STALLED_CUT_MS = 5_000;

/** What the budget needs of a connection. */
export interface BudgetMember {
  /** Bytes it holds now (counted in the budget). */
  readonly heldBytes: number;
  /** How long it has held bytes without its socket taking any (0: it is not). */
  stalledFor(now: number): number;
  /** Stops reading from the socket. */
  pauseReading(): void;
  /** Reads from the socket again. */
  resumeReading(): void;
  /** Cuts the connection (a reader that does not keep up). */
  cut(): void;
}

export class OutputBudget {
  readonly high: number;
  readonly low: number;
  #total = 0;
  readonly #paused = new Set<BudgetMember>();
  #overSince: number | null = null;
  #pausedSince: number | null = null;

  /**
   * `defer` runs the resumption of paused producers after the current work (a microtask by
   * default): a resumed connection handles the frames it had left unread, and that must not
   * happen in the middle of whatever freed the budget (a group commit's fan-out).
   */
  /** Every connection, for the cuts (the server's sessions; none by default). */
  members: () => Iterable<BudgetMember> = () => [];

  constructor(
    bytes = OUTPUT_BUDGET_BYTES,
    readonly now: () => number = Date.now,
    readonly defer: (fn: () => void) => void = queueMicrotask,
  ) {
    this.high = bytes;
    this.low = Math.floor(bytes * OUTPUT_RESUME_SHARE);
  }

  /** Bytes held by every connection together. */
  get total(): number {
    return this.#total;
  }

  /** Connections not being read because of the budget. */
  get pausedCount(): number {
    return this.#paused.size;
  }

  get over(): boolean {
    return this.#total > this.high;
  }

  /** A connection now holds `delta` more bytes (negative: fewer). */
  change(delta: number): void {
    this.#total += delta;
    if (this.#total > this.high) {
      this.#overSince ??= this.now();
    } else {
      this.#overSince = null;
      if (this.#total <= this.low && this.#paused.size > 0) this.#resumeAll();
    }
  }

  /** `member` produced output for others while over budget: stop reading it for now. */
  pause(member: BudgetMember): void {
    if (this.#paused.has(member)) return;
    const first = this.#paused.size === 0;
    if (first) this.#pausedSince = this.now();
    this.#paused.add(member);
    member.pauseReading();
    // a stalled reader may be what filled it: cut it now rather than at the next sweep
    if (first) this.defer(() => this.enforce());
  }

  isPaused(member: BudgetMember): boolean {
    return this.#paused.has(member);
  }

  /** `member` is gone (its bytes must already have been taken out with `change`). */
  forget(member: BudgetMember): void {
    this.#paused.delete(member);
    if (this.#paused.size === 0) this.#pausedSince = null;
  }

  /**
   * Called now and then (the server's sweeper) and when producers start to be paused: over the
   * high watermark, cuts the stalled holders among `members`; producers paused, or the total over
   * it, for too long, the biggest holders; either until the total is below the low watermark.
   * Returns how many.
   */
  enforce(members: Iterable<BudgetMember> = this.members()): number {
    const now = this.now();
    const since = Math.min(this.#overSince ?? Infinity, this.#pausedSince ?? Infinity);
    const tooLong = now - since >= OVER_BUDGET_CUT_MS;
    if (!tooLong && !this.over) return 0;
    const biggest = [...members].filter((m) => m.heldBytes > 0)
      .sort((a, b) => b.heldBytes - a.heldBytes);
    // the stalled first; after too long, whoever holds the most
    const order = tooLong ? biggest : biggest.filter((m) => m.stalledFor(now) >= STALLED_CUT_MS);
    let cut = 0;
    for (const member of order) {
      if (this.#total <= this.low) break;
      member.cut(); // takes its bytes out of the total
      cut++;
    }
    if (cut > 0) this.onCut(cut, tooLong);
    return cut;
  }

  /** Told how many connections a cut took, and why (for the log). */
  onCut: (count: number, tooLong: boolean) => void = () => {};

  #resumeAll(): void {
    const paused = [...this.#paused];
    this.#paused.clear();
    this.#pausedSince = null;
    this.defer(() => {
      for (const member of paused) member.resumeReading();
    });
  }
}
