/**
 * A clock for unit tests (src/client/clock.ts): time stands still until the test moves it, and
 * then every timer due fires in order, with what it set off (promises, reads) run in between.
 */
import type { Clock } from "../src/client/clock.ts";

interface Timer {
  at: number;
  /** Order among timers due at the same time. */
  seq: number;
  fn: () => void;
  /** Set for a repeating timer. */
  period?: number;
}

/** Lets what is waiting on promises and zero-delay timers run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Set<Timer>();

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): () => void {
    return this.#add({ at: this.#now + Math.max(0, ms), seq: this.#seq++, fn });
  }

  every(ms: number, fn: () => void): () => void {
    const period = Math.max(1, ms);
    return this.#add({ at: this.#now + period, seq: this.#seq++, fn, period });
  }

  /** Timers set and not yet fired or cancelled (a repeating one counts until stopped). */
  get pending(): number {
    return this.#timers.size;
  }

  /** When the next timer fires, or undefined when none is set. */
  get next(): number | undefined {
    return this.#due(Infinity)?.at;
  }

  /** Moves the time `ms` forward, firing each timer as its time comes; settles before and after. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (let timer = this.#due(end); timer; timer = this.#due(end)) {
      this.#now = timer.at;
      if (timer.period) timer.at += timer.period;
      else this.#timers.delete(timer);
      timer.fn();
      await settle();
    }
    this.#now = end;
    await settle();
  }

  #add(timer: Timer): () => void {
    this.#timers.add(timer);
    return () => void this.#timers.delete(timer);
  }

  /** The first timer due by `end`. */
  #due(end: number): Timer | undefined {
    let first: Timer | undefined;
    for (const t of this.#timers) {
      if (t.at > end) continue;
      if (!first || t.at < first.at || (t.at === first.at && t.seq < first.seq)) first = t;
    }
    return first;
  }
}
