// Unit tests for src/server/identity.ts: ids (name_NNNN) and tokens.
//
// Run: deno test -A tests/identity_test.ts

import assert from "node:assert/strict";
import { hashToken, newToken, pickId, randomDigits } from "../src/server/identity.ts";

Deno.test("randomDigits: always four decimal digits", () => {
  for (let i = 0; i < 20_000; i++) assert.match(randomDigits(), /^[0-9]{4}$/);
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

Deno.test("pickId: a crowded name falls back to a scan from a random start", () => {
  // the random draws keep hitting taken ids; only 0007 and 0500 are free
  const free = new Set(["tom_0007", "tom_0500"]);
  const id = pickId("tom", (id) => !free.has(id), () => "0400");
  assert.equal(id, "tom_0500");
});

Deno.test("pickId: the scan wraps around past 9999", () => {
  const id = pickId("tom", (id) => id !== "tom_0003", () => "9998");
  assert.equal(id, "tom_0003");
});

Deno.test("pickId: all 10,000 ids taken gives null", () => {
  let asked = 0;
  const id = pickId("tom", () => {
    asked++;
    return true;
  }, randomDigits);
  assert.equal(id, null);
  assert.ok(asked >= 10_000, "every id was tried");
});

Deno.test("pickId: ids have the name and four digits", () => {
  for (let i = 0; i < 100; i++) {
    assert.match(pickId("a.b-c_d", () => false)!, /^a\.b-c_d_[0-9]{4}$/);
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
