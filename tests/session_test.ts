// Unit tests for src/server/session.ts: one connection's read loop and write queue, with a fake
// socket, a fake hub and an injected clock — what only the end-to-end tests reached before:
// deadlines, the slow-reader cap, writes capped per call, a read left unread while the budget is
// full, a sender paused behind its own output, and a backlog pumped as the socket drains.
//
// Run: deno test -A tests/session_test.ts

import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { TLSSocket } from "node:tls";
import { concatFrames, encodeFrame, FrameCutter } from "../src/protocol/codec.ts";
import type { ClientFrame, ServerFrame } from "../src/protocol/schema.ts";
import type { BacklogSource } from "../src/server/backlog.ts";
import { OutputBudget } from "../src/server/budget.ts";
import type { Hub } from "../src/server/hub.ts";
import type { Peer } from "../src/server/peer.ts";
import {
  MAX_WRITE_BYTES,
  REPLAY_CHUNK_BYTES,
  SENDER_PAUSE_BYTES,
  Session,
  type SessionLimits,
} from "../src/server/session.ts";

/** A socket that records writes; the test decides when they are flushed and drained. */
class FakeSocket extends EventEmitter {
  remoteAddress = "10.0.0.1";
  remotePort = 40000;
  writableNeedDrain = false;
  paused = false;
  destroyed = false;
  ended = false;
  /** Writes the socket has not taken yet. */
  readonly writes: { bytes: Uint8Array; done: () => void }[] = [];
  /** Every write ever made. */
  readonly written: Uint8Array[] = [];
  setNoDelay(): void {}
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  destroy(): void {
    this.destroyed = true;
  }
  end(): void {
    this.ended = true;
  }
  write(bytes: Uint8Array, done: () => void): boolean {
    this.writes.push({ bytes, done });
    this.written.push(bytes);
    // like node: past the high-water mark the writer is asked to wait for "drain"
    this.writableNeedDrain = bytes.length > 16 * 1024;
    return !this.writableNeedDrain;
  }
  /** The socket took every write so far; it asks for more. */
  drainAll(): void {
    for (const w of this.writes.splice(0)) w.done();
    this.writableNeedDrain = false;
    this.emit("drain");
  }
  /** Every frame written so far. */
  frames(): ServerFrame[] {
    const cutter = new FrameCutter();
    return cutter.push(concatFrames(this.written))
      .map((p) => JSON.parse(new TextDecoder().decode(p)));
  }
}

/** A hub that records what it was handed and lets the test react. */
function fakeHub(onFrame: (peer: Peer, frame: ClientFrame) => void = () => {}) {
  const seen: ClientFrame[] = [];
  const left: string[] = [];
  const hub = {
    handle(peer: Peer, frame: ClientFrame) {
      seen.push(frame);
      onFrame(peer, frame);
    },
    disconnect(_peer: Peer, reason?: string) {
      left.push(reason ?? "");
    },
  };
  return { hub: hub as unknown as Hub, seen, left };
}

const LIMITS: SessionLimits = {
  handshakeTimeoutMs: 10_000,
  helloTimeoutMs: 10_000,
  idleTimeoutMs: 45_000,
  maxQueueBytes: 8 * 1024 * 1024,
  maxBadFrames: 5,
};

function session(
  options: { onFrame?: (peer: Peer, frame: ClientFrame) => void; budget?: number } = {},
) {
  const clock = { t: 1_000 };
  const socket = new FakeSocket();
  const { hub, seen, left } = fakeHub(options.onFrame);
  const budget = new OutputBudget(options.budget ?? 32 * 1024 * 1024, () => clock.t, (fn) => fn());
  const s = new Session(socket as unknown as TLSSocket, hub, LIMITS, () => clock.t, budget);
  return { s, socket, seen, left, clock, budget };
}

const tick = () => new Promise<void>((resolve) => queueMicrotask(resolve));
const frame = (value: unknown) => encodeFrame(value as ServerFrame);
const sendFrame = (i: number) => frame({ type: "send", ref: `r${i}`, text: `m${i}` });

Deno.test("session: no hello in time is goodbye timeout; a refusal on its way gets longer", async () => {
  const { s, socket, clock, left } = session();
  clock.t += LIMITS.helloTimeoutMs - 1;
  s.checkDeadline(clock.t);
  assert.equal(socket.writes.length, 0);
  clock.t += 1;
  s.checkDeadline(clock.t);
  await tick();
  assert.deepEqual(socket.frames().map((f) => f.type), ["goodbye"]);
  assert.equal((socket.frames()[0] as { reason: string }).reason, "timeout");
  assert.deepEqual(left, ["timeout"]);
});

Deno.test("session: frames are handed over in order; a bad one is answered, the fifth closes", async () => {
  const { s: _s, socket, seen } = session();
  socket.emit("data", concatFrames([frame({ type: "ping" }), frame({ type: "who", ref: "w" })]));
  assert.deepEqual(seen.map((f) => f.type), ["ping", "who"]);
  for (let i = 0; i < 5; i++) socket.emit("data", frame({ type: "nonsense", ref: `b${i}` }));
  await tick();
  const sent = socket.frames();
  assert.equal(sent.filter((f) => f.type === "error").length, 5, "four bad_frame, then the last");
  assert.equal(sent.at(-1)!.type, "goodbye");
  assert.equal(seen.length, 2, "no bad frame reaches the hub");
});

Deno.test("session: each write hands the socket at most MAX_WRITE_BYTES; the rest goes after the drain", async () => {
  const { s, socket } = session();
  const big = frame({ type: "error", code: "x", message: "y".repeat(60_000) });
  for (let i = 0; i < 10; i++) s.send(big); // ~600 KB
  await tick();
  assert.equal(socket.writes.length, 1);
  assert.ok(socket.writes[0].bytes.length <= MAX_WRITE_BYTES + big.length);
  let written = 0;
  for (let i = 0; i < 20 && written < big.length * 10; i++) {
    written += socket.writes.reduce((n, w) => n + w.bytes.length, 0);
    socket.drainAll();
    await tick();
  }
  assert.equal(written, big.length * 10, "everything, in pieces");
});

Deno.test("session: a reader past its queue cap is cut (and leaves), without a goodbye it would not read", () => {
  const { s, socket, left } = session();
  const big = frame({ type: "error", code: "x", message: "z".repeat(60_000) });
  const count = Math.ceil(LIMITS.maxQueueBytes / big.length) + 2;
  for (let i = 0; i < count; i++) s.send(big);
  assert.equal(socket.destroyed, true);
  assert.deepEqual(left, ["slow_reader"]);
});

Deno.test("session: over the budget, a sender's read stops where it was; the rest is handled once it drains", () => {
  const shared: { budget?: OutputBudget } = {};
  const { socket, seen, budget } = session({
    budget: 1_000,
    // each send makes output for others: here, 600 bytes held elsewhere in the budget
    onFrame: (_peer, f) => {
      if (f.type === "send") shared.budget!.change(600);
    },
  });
  shared.budget = budget;
  const refs = () => seen.map((f) => (f as { ref: string }).ref);
  socket.emit("data", concatFrames([0, 1, 2, 3, 4].map(sendFrame)));
  // 600, then 1,200: over, paused after the second; the rest of the read waits
  assert.deepEqual(refs(), ["r0", "r1"]);
  assert.equal(socket.paused, true);
  budget.change(-1_200); // the fan-out drained: resumed, and over again after two more
  assert.deepEqual(refs(), ["r0", "r1", "r2", "r3"]);
  assert.equal(socket.paused, true);
  budget.change(-1_200);
  assert.deepEqual(refs(), ["r0", "r1", "r2", "r3", "r4"]);
  assert.equal(socket.paused, false, "read again once under");
});

Deno.test("session: a sender holding SENDER_PAUSE_BYTES of its own output is not read until it takes half", async () => {
  const big = frame({ type: "error", code: "x", message: "e".repeat(60_000) });
  const { s, socket, seen } = session({
    // every send is echoed to the sender (its own message), as the hub does
    onFrame: (peer, f) => {
      if (f.type === "send") { for (let i = 0; i < 4; i++) peer.send(big); }
    },
  });
  const sends = Array.from({ length: 8 }, (_, i) => sendFrame(i));
  socket.emit("data", concatFrames(sends));
  const handled = seen.length;
  assert.ok(handled < 8, `paused after ${handled} sends`);
  assert.ok(handled * 4 * big.length > SENDER_PAUSE_BYTES);
  assert.equal(socket.paused, true);
  // it reads: once half of it is taken, the rest of the read is handled
  for (let i = 0; i < 40 && seen.length < 8; i++) {
    socket.drainAll();
    await tick();
  }
  assert.equal(seen.length, 8);
  assert.equal(s.heldBytes >= 0, true);
});

Deno.test("session: a backlog is read a page at a time as the socket drains; live frames wait behind it", async () => {
  const { s, socket } = session();
  let pages = 0;
  const page = (n: number): ServerFrame[] =>
    Array.from({ length: 20 }, (_, i) => ({
      type: "error",
      code: "page",
      message: `${n}:${i} ${"p".repeat(2_000)}`,
    }));
  const source: BacklogSource = {
    next: () => (pages < 30 ? page(pages++) : null),
  };
  s.replay(source);
  const first = pages;
  assert.ok(first > 0 && first < 30, `read ${first} pages before the socket drained`);
  s.send(frame({ type: "pong" })); // live: held behind the backlog
  for (let i = 0; i < 100 && socket.frames().at(-1)?.type !== "pong"; i++) {
    socket.drainAll();
    await tick();
  }
  assert.equal(pages, 30);
  const types = socket.frames().map((f) => f.type);
  assert.equal(types.at(-1), "pong", "after the whole backlog");
  assert.equal(types.filter((t) => t === "error").length, 30 * 20);
});

Deno.test("session: pages bigger than a write are read only when less than a chunk is left queued", async () => {
  // the kernel of a resumer that never reads takes writes (and drains) until its buffer is full:
  // what the session reads from the store must follow what it writes, not the drains
  const { s, socket } = session();
  let read = 0;
  let pages = 0;
  const source: BacklogSource = {
    next: () => {
      if (pages++ >= 100) return null;
      // 64 messages of 4,000 three-byte characters: ~768 KiB, three writes' worth
      const page = Array.from({ length: 64 }, (_, i): ServerFrame => ({
        type: "error",
        code: "page",
        message: `${pages}:${i} ${"€".repeat(4_000)}`,
      }));
      read += page.reduce((sum, f) => sum + encodeFrame(f).length, 0);
      return page;
    },
  };
  s.replay(source);
  const pageBytes = read;
  for (let drains = 0; drains < 15; drains++) {
    socket.drainAll();
    await tick();
    const written = socket.written.reduce((sum, w) => sum + w.length, 0);
    assert.ok(
      read - written <= REPLAY_CHUNK_BYTES + pageBytes,
      `${read - written} bytes read and not written after ${drains + 1} drains`,
    );
  }
});

Deno.test("session: idle past its deadline is goodbye timeout, unless the budget is what stopped reading it", async () => {
  const { s, socket, clock, budget } = session({ budget: 10 });
  socket.emit("data", frame({ type: "hello", name: "tom" }));
  s.user = { id: "tom_0001", name: "tom" }; // what the hub would do
  socket.emit("data", frame({ type: "ping" })); // now ready
  budget.change(11);
  budget.pause(s);
  clock.t += LIMITS.idleTimeoutMs * 2;
  s.checkDeadline(clock.t);
  await tick();
  assert.equal(socket.frames().filter((f) => f.type === "goodbye").length, 0, "not while paused");
  budget.change(-11); // resumed: its deadline starts again
  s.checkDeadline(clock.t);
  assert.equal(socket.frames().filter((f) => f.type === "goodbye").length, 0);
  clock.t += LIMITS.idleTimeoutMs;
  s.checkDeadline(clock.t);
  await tick();
  assert.equal(socket.frames().at(-1)?.type, "goodbye");
});
