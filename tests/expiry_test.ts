import assert from "node:assert/strict";
import { ExpirySchedule } from "../src/server/expiry.ts";
import { RateLimiter, TokenBucket } from "../src/server/rate.ts";

Deno.test("expiry schedule: due ids come out in deadline order, only when due", () => {
  const schedule = new ExpirySchedule();
  schedule.add("c", 3000);
  schedule.add("a", 1000);
  schedule.add("b", 2000);
  schedule.add("a2", 1000);
  assert.deepEqual(schedule.due(999), []);
  assert.deepEqual(schedule.due(1000).sort(), ["a", "a2"]);
  assert.deepEqual(schedule.due(2500), ["b"]);
  assert.equal(schedule.size, 1);
  assert.deepEqual(schedule.due(10_000), ["c"]);
  assert.equal(schedule.size, 0);
});

Deno.test("expiry schedule: at most `max` at a time, the earliest first; the rest stay due", () => {
  const schedule = new ExpirySchedule();
  for (let i = 0; i < 10; i++) schedule.add(`m${i}`, 100 - i);
  assert.deepEqual(schedule.due(1000, 3), ["m9", "m8", "m7"]);
  assert.equal(schedule.size, 7);
  assert.deepEqual(schedule.due(1000).length, 7);
});

Deno.test("expiry schedule: 100k pending messages, random order, drained exactly in order", () => {
  const schedule = new ExpirySchedule();
  const n = 100_000;
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const deadlines = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const at = Math.floor(random() * 7 * 86_400_000);
    deadlines.set(`m${i}`, at);
    schedule.add(`m${i}`, at);
  }
  assert.equal(schedule.size, n);
  // a tick with nothing due touches nothing
  assert.deepEqual(schedule.due(-1), []);
  let last = -1;
  let taken = 0;
  // bounded: every deadline is within 7 days, so 8 days of hourly ticks must drain it
  for (let now = 0; schedule.size > 0 && now <= 8 * 86_400_000; now += 3_600_000) {
    for (const id of schedule.due(now)) {
      const at = deadlines.get(id)!;
      assert.ok(at <= now, "only what is due");
      assert.ok(at >= last, "in deadline order");
      last = at;
      taken++;
    }
    assert.deepEqual(schedule.due(now), [], "nothing due is left behind");
  }
  assert.equal(taken, n);
});

Deno.test("token bucket: a burst passes, then the sustained rate, with an injected clock", () => {
  const bucket = new TokenBucket(2, 5, 0);
  for (let i = 0; i < 5; i++) assert.ok(bucket.take(0), `burst ${i}`);
  assert.equal(bucket.take(0), false);
  assert.equal(bucket.take(499), false);
  assert.ok(bucket.take(500)); // 2 a second: one token per 500 ms
  assert.equal(bucket.take(500), false);
  assert.ok(bucket.full(10_000));
});

Deno.test("rate limiter: per key, and forgotten once refilled", () => {
  const limiter = new RateLimiter(1, 2);
  assert.ok(limiter.take("ann", 0));
  assert.ok(limiter.take("ann", 0));
  assert.equal(limiter.take("ann", 0), false);
  assert.ok(limiter.take("ben", 0));
  limiter.prune(500);
  assert.equal(limiter.size, 2);
  limiter.prune(5_000);
  assert.equal(limiter.size, 0);
});
