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
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Whether a token is there to take (without taking it). */
  available(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= 1;
  }

  /** Whether the bucket is back to a full burst (then it may be forgotten: a new one is the same). */
  full(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.burst;
  }

  #refill(now: number): void {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.rate);
    this.#last = now;
  }
}

/** The burst allowed for a sustained rate: enough for a pasted screenful. */
export function burstFor(rate: number): number {
  return Math.max(20, Math.ceil(rate * 5));
}

/**
 * Token buckets by key (a user id), so reconnecting does not buy a fresh burst. Buckets that have
 * refilled are dropped by {@link RateLimiter.prune}, which keeps the map as small as the set of
 * recently busy users.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(readonly rate: number, readonly burst: number) {}

  take(key: string, now: number): boolean {
    let bucket = this.#buckets.get(key);
    if (!bucket) this.#buckets.set(key, bucket = new TokenBucket(this.rate, this.burst, now));
    return bucket.take(now);
  }

  /** Whether `key` has a token to take (without taking it). */
  available(key: string, now: number): boolean {
    return this.#buckets.get(key)?.available(now) ?? true;
  }

  prune(now: number): void {
    for (const [key, bucket] of this.#buckets) if (bucket.full(now)) this.#buckets.delete(key);
  }

  get size(): number {
    return this.#buckets.size;
  }
}
