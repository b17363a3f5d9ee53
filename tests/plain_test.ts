// Unit tests for src/ui/plain.ts: the line modes' rendering of connection states.
//
// Run: deno test -A tests/plain_test.ts

import assert from "node:assert/strict";
import { jsonStatus, plainStatus } from "../src/ui/plain.ts";

Deno.test("status: a reconnect notice carries the last attempt's reason (plain and json)", () => {
  const now = 1_000_000;
  const first = { state: "reconnecting" as const, retryAt: now + 2_000, attempt: 1 };
  assert.equal(plainStatus(first, now), "* connection lost; reconnecting in 2 s (attempt 1)");
  assert.deepEqual(jsonStatus(first), {
    type: "status",
    state: "reconnecting",
    retryAt: now + 2_000,
    attempt: 1,
  });
  const reason = "cannot connect to h:1: the server closed the connection during the TLS handshake";
  const later = { ...first, attempt: 2, reason: `${reason}\x1b[2J` };
  assert.equal(
    plainStatus(later, now),
    `* connection lost; reconnecting in 2 s (attempt 2); the last attempt failed: ${reason}`,
  );
  assert.equal(jsonStatus(later).reason, later.reason);
  assert.equal(plainStatus({ state: "connected" }), "* connected");
  assert.deepEqual(jsonStatus({ state: "offline" }), { type: "status", state: "offline" });
});
