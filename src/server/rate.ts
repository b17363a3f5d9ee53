/**
 * A token bucket: `rate` tokens a second, holding at most `burst`. It lets a pasted block through
 * and stops a flood. Pure: the caller passes the time.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(readonly rate: number, readonly burst: number, now: number) {
    this.#tokens = burst;
    this.#last = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.rate);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** The burst allowed for a sustained rate: enough for a pasted screenful. */
export function burstFor(rate: number): number {
  return Math.max(20, Math.ceil(rate * 5));
}
