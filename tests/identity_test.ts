// Unit tests for src/server/identity.ts: ids (name_NNNN, growing a digit when crowded) and tokens.
//
// Run: deno test -A tests/identity_test.ts

import assert from "node:assert/strict";
import { ID_PATTERN } from "../src/protocol/schema.ts";
import {
  hashToken,
  ID_TRIES_PER_LENGTH,
  MAX_ID_DIGITS,
  MIN_ID_DIGITS,
  newToken,
  pickId,
  randomDigits,
} from "../src/server/identity.ts";

Deno.test("randomDigits: four decimal digits by default, `count` when asked (4 to 8)", () => {
  for (let i = 0; i < 20_000; i++) assert.match(randomDigits(), /^[0-9]{4}$/);
  for (let count = MIN_ID_DIGITS; count <= MAX_ID_DIGITS; count++) {
    const shape = new RegExp(`^[0-9]{${count}}$`);
    for (let i = 0; i < 2_000; i++) assert.match(randomDigits(count), shape);
  }
});

Deno.test("randomDigits: 20k draws spread over many values", () => {
  const counts = new Map<string, number>();
  const draws = 20_000;
  for (let i = 0; i < draws; i++) {
    const d = randomDigits();
    counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  // 20k draws from 10k values: expect ~8,647 distinct (1 - e^-2); far fewer means a bias
  assert.ok(counts.size > 8_000, `only ${counts.size} distinct values`);
  // leading digits are all used, roughly evenly (each ~2,000)
  const firsts = new Map<string, number>();
  for (const [d, n] of counts) firsts.set(d[0], (firsts.get(d[0]) ?? 0) + n);
  assert.equal(firsts.size, 10);
  for (const [digit, n] of firsts) assert.ok(n > 1_500 && n < 2_500, `${digit}: ${n}`);
  // no single value hogs the draws
  assert.ok(Math.max(...counts.values()) < 15);
});

Deno.test("randomDigits: 8 digits use the whole range (leading digits even)", () => {
  const firsts = new Map<string, number>();
  for (let i = 0; i < 20_000; i++) {
    const d = randomDigits(8)[0];
    firsts.set(d, (firsts.get(d) ?? 0) + 1);
  }
  assert.equal(firsts.size, 10);
  for (const [digit, n] of firsts) assert.ok(n > 1_500 && n < 2_500, `${digit}: ${n}`);
});

Deno.test("pickId: the first free random id", () => {
  assert.equal(pickId("tom", () => false, () => "0042"), "tom_0042");
});

Deno.test("pickId: a collision retries with new digits", () => {
  const draws = ["1111", "2222", "3333"];
  const asked: string[] = [];
  const id = pickId("tom", (id) => {
    asked.push(id);
    return id !== "tom_3333";
  }, () => draws.shift()!);
  assert.equal(id, "tom_3333");
  assert.deepEqual(asked, ["tom_1111", "tom_2222", "tom_3333"]);
});

Deno.test("pickId: a crowded name grows a digit: a few tries of 4 digits, then of 5, ...", () => {
  const counts: number[] = [];
  const asked: string[] = [];
  const id = pickId("tom", (id) => {
    asked.push(id);
    return id.length < "tom_".length + 6; // every id of 4 and 5 digits is taken
  }, (count) => {
    counts.push(count);
    return "7".repeat(count);
  });
  assert.equal(id, "tom_777777");
  assert.deepEqual(counts, [
    ...Array(ID_TRIES_PER_LENGTH).fill(4),
    ...Array(ID_TRIES_PER_LENGTH).fill(5),
    6,
  ]);
  assert.equal(asked.length, 2 * ID_TRIES_PER_LENGTH + 1, "one lookup per try, no scan");
});

Deno.test("pickId: all 10,000 four-digit ids of a name taken: a 5-digit one, fast, few lookups", () => {
  const taken = new Set<string>();
  for (let i = 0; i < 10_000; i++) taken.add(`tom_${String(i).padStart(4, "0")}`);
  for (let run = 0; run < 100; run++) {
    let lookups = 0;
    const started = performance.now();
    const id = pickId("tom", (id) => {
      lookups++;
      return taken.has(id);
    });
    const ms = performance.now() - started;
    assert.match(id!, /^tom_[0-9]{5}$/);
    // the 4-digit tries all fail, then nearly every 5-digit one succeeds at once
    assert.ok(lookups <= 2 * ID_TRIES_PER_LENGTH, `${lookups} lookups`);
    assert.ok(ms < 20, `${ms.toFixed(1)} ms`);
    taken.add(id!);
  }
});

Deno.test("pickId: nothing free at any length gives null after a bounded number of lookups", () => {
  let lookups = 0;
  const id = pickId("tom", () => {
    lookups++;
    return true;
  });
  assert.equal(id, null);
  assert.equal(lookups, ID_TRIES_PER_LENGTH * (MAX_ID_DIGITS - MIN_ID_DIGITS + 1));
});

Deno.test("pickId: an injected () => string (the hub's tests) still works past 4 digits", () => {
  // it ignores the count it is given: its 4 digits are used for 4, fresh ones beyond
  const id = pickId("tom", (id) => /^tom_[0-9]{4}$/.test(id), () => "0001");
  assert.match(id!, /^tom_[0-9]{5}$/);
});

Deno.test("pickId: ids have the name and four digits while the name is not crowded", () => {
  for (let i = 0; i < 100; i++) {
    assert.match(pickId("a.b-c_d", () => false)!, /^a\.b-c_d_[0-9]{4}$/);
  }
});

Deno.test("pickId: every id it gives matches ID_PATTERN, at every length, for the longest name", () => {
  const name = "x".repeat(24);
  for (let digits = MIN_ID_DIGITS; digits <= MAX_ID_DIGITS; digits++) {
    const id = pickId(name, (id) => id.length < name.length + 1 + digits);
    assert.equal(id!.length, name.length + 1 + digits);
    assert.match(id!, ID_PATTERN);
  }
});

Deno.test("newToken: 43 base64url characters (32 bytes), unique", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const token = newToken();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    seen.add(token);
  }
  assert.equal(seen.size, 1000);
});

Deno.test("newToken: decodes back to 32 bytes", () => {
  const token = newToken();
  const b64 = token.replace(/-/g, "+").replace(/_/g, "/") + "=";
  assert.equal(atob(b64).length, 32);
});

Deno.test("hashToken: deterministic lowercase SHA-256 hex", () => {
  const a = hashToken("secret");
  assert.equal(a, hashToken("secret"));
  assert.match(a, /^[0-9a-f]{64}$/);
  // SHA-256("secret")
  assert.equal(a, "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b");
  assert.notEqual(hashToken("secret2"), a);
  assert.notEqual(hashToken(""), a);
});
