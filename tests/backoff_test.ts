// Unit tests for the client's reconnect delay (src/client/client.ts backoffDelay):
// exponential from RECONNECT_BASE_MS, capped at RECONNECT_CAP_MS, "equal jitter" in [d/2, d].
//
// Run: deno test -A tests/backoff_test.ts

import assert from "node:assert/strict";
import { backoffDelay, RECONNECT_BASE_MS, RECONNECT_CAP_MS } from "../src/client/client.ts";

/** The un-jittered delay for a 0-based attempt: base × 2^attempt, at most the cap. */
function ceilingFor(attempt: number): number {
  return Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** attempt);
}

const always = (value: number) => () => value;

Deno.test("backoff: the constants make sense together", () => {
  assert.ok(RECONNECT_BASE_MS > 0);
  assert.ok(RECONNECT_CAP_MS > RECONNECT_BASE_MS);
  assert.equal(RECONNECT_BASE_MS, 500);
  assert.equal(RECONNECT_CAP_MS, 30_000);
});

Deno.test("backoff: the first attempt waits between half the base and the base", () => {
  assert.equal(backoffDelay(0, always(1)), RECONNECT_BASE_MS);
  assert.equal(backoffDelay(0, always(0)), RECONNECT_BASE_MS / 2);
  assert.equal(backoffDelay(0, always(0.5)), Math.round(RECONNECT_BASE_MS * 0.75));
});

Deno.test("backoff: the top of the range doubles with each attempt until the cap", () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffDelay(attempt, always(1))),
    [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffDelay(attempt, always(0))),
    [250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000],
  );
  for (let attempt = 0; ceilingFor(attempt + 1) < RECONNECT_CAP_MS; attempt++) {
    assert.equal(
      backoffDelay(attempt + 1, always(1)),
      2 * backoffDelay(attempt, always(1)),
      `attempt ${attempt + 1} doubles attempt ${attempt}`,
    );
  }
});

Deno.test("backoff: every attempt stays within the equal-jitter bounds [d/2, d] and the cap", () => {
  const randoms = [0, 1e-9, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999999, 1 - Number.EPSILON];
  for (let attempt = 0; attempt <= 64; attempt++) {
    const ceiling = ceilingFor(attempt);
    let previous = -Infinity;
    for (const r of randoms) {
      const delay = backoffDelay(attempt, always(r));
      assert.ok(Number.isInteger(delay), `attempt ${attempt}, random ${r}: ${delay} not whole`);
      assert.ok(delay >= ceiling / 2, `attempt ${attempt}, random ${r}: ${delay} < ${ceiling / 2}`);
      assert.ok(delay <= ceiling, `attempt ${attempt}, random ${r}: ${delay} > ${ceiling}`);
      assert.ok(delay <= RECONNECT_CAP_MS, `attempt ${attempt}: ${delay} above the cap`);
      assert.ok(delay >= previous, `attempt ${attempt}: not monotonic in the random value`);
      previous = delay;
    }
  }
});

Deno.test("backoff: the jitter is ceiling/2 + random × ceiling/2", () => {
  assert.equal(backoffDelay(2, always(0.25)), 1000 + 250);
  assert.equal(backoffDelay(10, always(0.5)), 15000 + 7500);
  assert.equal(backoffDelay(10, always(0.1)), 15000 + 1500);
});

Deno.test("backoff: huge attempt numbers give a finite delay within the cap", () => {
  for (const attempt of [100, 1000, 1_000_000, Number.MAX_SAFE_INTEGER, Infinity]) {
    for (const r of [0, 0.5, 1]) {
      const delay = backoffDelay(attempt, always(r));
      assert.ok(Number.isFinite(delay), `attempt ${attempt}: ${delay} is not finite`);
      assert.ok(delay <= RECONNECT_CAP_MS, `attempt ${attempt}: ${delay} above the cap`);
      assert.ok(delay >= RECONNECT_CAP_MS / 2, `attempt ${attempt}: ${delay} below half the cap`);
    }
  }
  assert.equal(backoffDelay(1000, always(1)), RECONNECT_CAP_MS);
  assert.equal(backoffDelay(1000, always(0)), RECONNECT_CAP_MS / 2);
});

Deno.test("backoff: without an injected random it uses Math.random", () => {
  const original = Math.random;
  let calls = 0;
  try {
    Math.random = () => {
      calls++;
      return 0;
    };
    assert.equal(backoffDelay(0), RECONNECT_BASE_MS / 2);
    assert.equal(backoffDelay(3), 2000);
    Math.random = () => {
      calls++;
      return 1;
    };
    assert.equal(backoffDelay(0), RECONNECT_BASE_MS);
    assert.equal(backoffDelay(1000), RECONNECT_CAP_MS);
  } finally {
    Math.random = original;
  }
  assert.equal(calls, 4);
  assert.equal(Math.random, original);
});
