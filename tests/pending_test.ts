// Unit tests for src/server/pending.ts: which not-yet-logged-in connection makes room, with fake
// sockets and an injected clock.
//
// Run: deno test -A tests/pending_test.ts

import assert from "node:assert/strict";
import { PENDING_GRACE_MS, PendingConnections } from "../src/server/pending.ts";

class FakeSocket {
  destroyed = false;
  constructor(public bytesRead = 0) {}
  destroy(): void {
    this.destroyed = true;
  }
}

function world(perAddress = 3) {
  const clock = { t: 0 };
  const pending = new PendingConnections<FakeSocket>(perAddress, () => clock.t);
  let port = 0;
  const open = (bytes = 0, key = "10.0.0.1") => {
    const socket = new FakeSocket(bytes);
    const admitted = pending.admit(key, `${key}:${++port}`, socket);
    return { socket, admitted, remote: `${key}:${port}` };
  };
  return { clock, pending, open };
}

Deno.test("pending: a silent socket makes room first, the oldest of them", () => {
  const w = world();
  const busy = w.open(300);
  const silent1 = w.open(0);
  const silent2 = w.open(0);
  const newcomer = w.open(0);
  assert.equal(newcomer.admitted, true);
  assert.equal(silent1.socket.destroyed, true);
  assert.equal(silent2.socket.destroyed, false);
  assert.equal(busy.socket.destroyed, false, "one in its handshake is not pushed out");
  assert.equal(w.pending.count("10.0.0.1"), 3);
});

Deno.test("pending: one stalled past the grace makes room; young and busy ones refuse the newcomer", () => {
  const w = world();
  const old = w.open(50);
  w.clock.t += PENDING_GRACE_MS + 1;
  const a = w.open(50);
  const b = w.open(50);
  const c = w.open(50);
  assert.equal(c.admitted, true);
  assert.equal(old.socket.destroyed, true, "stalled past the grace");
  const d = w.open(50);
  assert.equal(d.admitted, false, "all young and busy: the newcomer is refused");
  assert.equal(d.socket.destroyed, false, "the caller closes it");
  assert.deepEqual([a, b, c].map((x) => x.socket.destroyed), [false, false, false]);
});

Deno.test("pending: idle sockets re-opened as fast as they are dropped cannot keep a real client out", () => {
  const w = world(32);
  for (let i = 0; i < 64; i++) w.open(0); // the attacker's idle sockets (half pushed out)
  // a real client: it sends its ClientHello at once
  const real = w.open(0);
  real.socket.bytesRead = 517;
  // the attacker re-opens a thousand more, each pushing out a silent one
  for (let i = 0; i < 1000; i++) {
    w.clock.t += 1;
    assert.equal(w.open(0).admitted, true);
  }
  assert.equal(real.socket.destroyed, false, "still there to finish its handshake and hello");
  w.pending.remove("10.0.0.1", real.remote); // it logged in
  assert.equal(w.pending.count("10.0.0.1"), 31);
});

Deno.test("pending: addresses are counted apart, and removal forgets them", () => {
  const w = world(1);
  const a = w.open(0, "10.0.0.1");
  const b = w.open(0, "10.0.0.2");
  assert.equal(a.admitted && b.admitted, true);
  w.pending.remove("10.0.0.1", a.remote);
  w.pending.remove("10.0.0.1", a.remote); // twice is harmless
  assert.equal(w.pending.count("10.0.0.1"), 0);
  assert.equal(w.pending.count("10.0.0.2"), 1);
});
