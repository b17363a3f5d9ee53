// Unit tests for src/client/client.ts (reconnects, final goodbyes, token rotation, which request
// a list of sessions answers) against a fake connection, and for src/client/connection.ts against
// a fake TCP listener on 127.0.0.1 that drops the connection during the TLS handshake.
//
// Run: deno test -A tests/client_test.ts

import assert from "node:assert/strict";
import {
  ChatClient,
  type ConnectionStatus,
  MIN_HEARTBEAT_MS,
  PRESENCE_LEFT_HOLD_MS,
  RECONNECT_CAP_MS,
  REVOKED_MESSAGE,
} from "../src/client/client.ts";
import { ConnectError, Connection } from "../src/client/connection.ts";
import { type ClientEvent, ClientState } from "../src/client/state.ts";
import { FakeClock } from "./fake_clock.ts";
import { FakeConnection, welcome, welcoming } from "./fake_connection.ts";

const HANDSHAKE_DROPPED = /the server closed the connection during the TLS handshake/;

interface Harness {
  client: ChatClient;
  statuses: ConnectionStatus[];
  /** The clock's time at each status (with a fake clock). */
  statusTimes: number[];
  events: ClientEvent[];
  welcomes: string[];
  revoked: number;
  connects: number;
}

/**
 * A client whose `connect` is answered, in turn, by `opens` (a ConnectError is thrown); on the
 * system's clock unless given one.
 */
function harness(
  opens: (FakeConnection | ConnectError)[],
  token?: string,
  clock?: FakeClock,
): Harness {
  const h: Harness = {
    statuses: [],
    statusTimes: [],
    events: [],
    welcomes: [],
    revoked: 0,
    connects: 0,
    client: undefined as unknown as ChatClient,
  };
  h.client = new ChatClient({
    name: "tom",
    token,
    state: new ClientState(),
    connect() {
      const next = opens[h.connects++];
      if (!next) return Promise.reject(new ConnectError("no more fake connections"));
      if (next instanceof ConnectError) return Promise.reject(next);
      return Promise.resolve(next as unknown as Connection);
    },
    onEvents: (events) => h.events.push(...events),
    onStatus: (status) => {
      h.statuses.push(status);
      h.statusTimes.push(clock?.now() ?? Date.now());
    },
    onWelcome: (w) => void h.welcomes.push(w.token),
    onRevoked: () => void h.revoked++,
    random: () => 0, // the shortest backoff: 250 ms, then 500 ms
    clock,
  });
  return h;
}

async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("client: a reconnect notice says why the last attempt failed", async () => {
  const first = welcoming("t1");
  const dropped = new ConnectError(
    "cannot connect to x:1: the server closed the connection during the TLS handshake; …",
  );
  const h = harness([first, dropped, welcoming("t2")]);
  await h.client.start();
  first.end();
  await until(() => h.welcomes.length === 2, "the second welcome");
  const reconnecting = h.statuses.filter((s) => s.state === "reconnecting");
  assert.equal(reconnecting.length, 2);
  // the first retry follows a dropped connection; the second one follows a failed attempt
  assert.equal(reconnecting[0].state === "reconnecting" && reconnecting[0].reason, undefined);
  assert.ok(reconnecting[1].state === "reconnecting");
  assert.match(reconnecting[1].reason ?? "", HANDSHAKE_DROPPED);
  assert.deepEqual(h.statuses.at(-1), { state: "connected" });
  h.client.close();
});

Deno.test("client: each welcome's new token is saved and presented at the next hello", async () => {
  const first = welcoming("t1");
  const second = welcoming("t2");
  const h = harness([first, second], "t0");
  await h.client.start();
  first.end();
  await until(() => h.welcomes.length === 2, "the second welcome");
  assert.deepEqual(h.welcomes, ["t1", "t2"]);
  const hellos = [first, second].map((c) => c.sent.find((f) => f.type === "hello"));
  assert.deepEqual(hellos.map((f) => f?.type === "hello" && f.token), ["t0", "t1"]);
  h.client.close();
});

Deno.test("client: goodbye revoked is final, forgets the token, and says why in one sentence", async () => {
  const first = welcoming("t1");
  const h = harness([first, welcoming("t2")]);
  await h.client.start();
  first.push({ type: "goodbye", reason: "revoked", message: "signed out from another device" });
  first.end();
  const ending = await h.client.ended;
  assert.equal(ending.code, 1);
  assert.equal(ending.message, REVOKED_MESSAGE);
  assert.equal(REVOKED_MESSAGE.split(/[.!?] /).length, 1, "one sentence");
  assert.equal(h.revoked, 1);
  assert.equal(h.connects, 1, "no reconnect");
  assert.deepEqual(h.statuses.at(-1), { state: "offline" });
});

Deno.test("client: a hello refused as revoked forgets the token too", async () => {
  const refusing = new FakeConnection((frame, conn) => {
    if (frame.type === "hello") {
      conn.push({ type: "goodbye", reason: "revoked", message: "that token was revoked" });
      conn.end();
    }
  });
  const h = harness([refusing], "old");
  await assert.rejects(h.client.start(), (error) => {
    assert.ok(error instanceof ConnectError && error.refused);
    assert.equal(error.code, "revoked");
    assert.equal(error.message, REVOKED_MESSAGE);
    return true;
  });
  assert.equal(h.revoked, 1);
});

Deno.test("client: the list of sessions says whether it answers /logout-others", async () => {
  const sessions = [
    { id: "s1", current: true, createdAt: 1, lastSeenAt: 2, address: "127.0.0.1" },
  ];
  const conn = new FakeConnection((frame, c) => {
    if (frame.type === "hello") c.push(welcome("t1"));
    if (frame.type === "sessions" || frame.type === "logout_others") {
      c.push({ type: "sessions", ref: frame.ref, sessions });
    }
  });
  const h = harness([conn]);
  await h.client.start();
  await h.client.request({ type: "sessions" });
  await h.client.request({ type: "logout_others" });
  const shown = h.events.filter((e) => e.type === "sessions");
  assert.deepEqual(shown, [
    { type: "sessions", sessions, loggedOutOthers: false },
    { type: "sessions", sessions, loggedOutOthers: true },
  ]);
  h.client.close();
});

// ---- Connection.open against a server that hangs up during the TLS handshake -----------------

/** A TCP listener on 127.0.0.1 that accepts each connection and closes it after `afterMs`. */
function dropping(afterMs: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const serving = (async () => {
    for await (const conn of listener) {
      if (afterMs === 0) conn.close();
      else {
        const timer = setTimeout(() => {
          timers.delete(timer);
          conn.close();
        }, afterMs);
        timers.add(timer);
      }
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving;
      for (const timer of timers) clearTimeout(timer);
    },
  };
}

for (const afterMs of [0, 50]) {
  Deno.test(`connection: a server that closes ${afterMs ? "after 50 ms" : "at once"} gets one clear sentence`, async () => {
    await using server = dropping(afterMs);
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        Connection.open({ host: "127.0.0.1", port: server.port }),
        (error) => {
          assert.ok(error instanceof ConnectError, String(error));
          assert.match(
            error.message,
            new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${server.port}: `),
          );
          assert.match(error.message, HANDSHAKE_DROPPED);
          assert.match(error.message, /refusing connections from your address|overloaded/);
          assert.doesNotMatch(error.message, /unexpected end of file/);
          assert.ok(!error.certificate && !error.refused);
          return true;
        },
      );
    }
  });
}

// ---- issue 13: the outbox, retrying at once, a shutdown's "left" lines --------------------------

Deno.test("client: kept messages go out with their own refs, as retries, and are answered once", async () => {
  const conn = new FakeConnection((frame, c) => {
    if (frame.type === "hello") c.push(welcome("t1"));
    // the server stored p-1 in an earlier run: a retry of it is acknowledged with the first id
    if (frame.type === "send") {
      c.push({ type: "ack", ref: frame.ref, id: "01JABCDEFGHJKMNPQRSTVWXYZ0", time: 1 });
    }
  });
  const h = harness([conn]);
  await h.client.start();
  const answers = h.client.resend([
    { type: "send", ref: "old-1", text: "unsent words" },
    { type: "send", ref: "old-2", text: "and more", to: ["ann_0002"] },
  ]);
  const answered = await Promise.all(answers);
  assert.deepEqual(answered.map((a) => a.type), ["ack", "ack"]);
  const sends = conn.sent.filter((f) => f.type === "send");
  assert.deepEqual(sends, [
    { type: "send", ref: "old-1", text: "unsent words", retry: true },
    { type: "send", ref: "old-2", text: "and more", to: ["ann_0002"], retry: true },
  ]);
  assert.deepEqual(h.client.unsent(), []);
  h.client.close();
});

Deno.test("client: messages typed while disconnected are unsent, reported, and resent as retries", async () => {
  const first = welcoming("t1");
  // the second connection welcomes but never answers a send: it stays unsent
  const second = new FakeConnection((frame, c) => {
    if (frame.type === "hello") c.push(welcome("t2"));
  });
  const changes: number[] = [];
  const h = harness([first, new ConnectError("down"), second]);
  (h.client.options as { onUnsent?: () => void }).onUnsent = () =>
    changes.push(h.client.unsent().length);
  await h.client.start();
  first.end();
  await until(() => h.statuses.some((s) => s.state === "reconnecting"), "the drop");
  void h.client.request({ type: "send", text: "typed offline" });
  assert.equal(h.client.unsent().length, 1);
  assert.ok(changes.length > 0, "the outbox was told");
  assert.equal(h.events.filter((e) => e.type === "pending").length, 1);
  await until(() => h.welcomes.length === 2, "the reconnect");
  const resent = second.sent.filter((f) => f.type === "send");
  assert.equal(resent.length, 1);
  assert.ok(resent[0].type === "send" && resent[0].retry === true);
  h.client.close();
});

Deno.test("client: reconnectNow ends the wait before the next attempt", async () => {
  const first = welcoming("t1");
  const h = harness([first, welcoming("t2")]);
  // a long backoff: without reconnectNow the second welcome would take 30 s
  (h.client.options as { random?: () => number }).random = () => 1;
  await h.client.start();
  assert.equal(h.client.reconnectNow(), "connected");
  first.end();
  await until(() => h.statuses.at(-1)?.state === "reconnecting", "the drop");
  const started = Date.now();
  assert.equal(h.client.reconnectNow(), "retrying");
  await until(() => h.welcomes.length === 2, "the reconnect", 2_000);
  assert.ok(Date.now() - started < 1_000);
  assert.ok(h.statuses.some((s) => s.state === "connecting"));
  h.client.close();
});

Deno.test("client: 'left' frames just before a goodbye are not shown; others are, in order", async () => {
  const conn = welcoming("t1");
  const h = harness([conn, welcoming("t2")]);
  await h.client.start();
  const ann = { id: "ann_0002", name: "ann" };
  const bob = { id: "bob_0003", name: "bob" };
  conn.push({ type: "presence", joined: ann, online: 2 });
  conn.push({ type: "presence", left: ann, online: 1 });
  // a frame after a held "left" lets it through first, in order
  conn.push({ type: "presence", joined: bob, online: 2 });
  await until(() => h.events.filter((e) => e.type === "presence").length === 3, "presence");
  assert.deepEqual(
    h.events.filter((e) => e.type === "presence").map((e) =>
      e.type === "presence" && (e.joined ? `+${e.joined.id}` : `-${e.left?.id}`)
    ),
    ["+ann_0002", "-ann_0002", "+bob_0003"],
  );
  // a shutdown: everyone leaves, then the goodbye
  conn.push({ type: "presence", left: bob, online: 1 });
  conn.push({ type: "goodbye", reason: "shutdown", message: "the server is shutting down" });
  conn.end();
  await until(() => h.welcomes.length === 2, "the reconnect");
  assert.equal(h.events.filter((e) => e.type === "presence").length, 3, "no 'left' shown");
  assert.ok(h.events.some((e) => e.type === "goodbye"));
  h.client.close();
});

Deno.test("client: a 'left' with nothing after it is shown once PRESENCE_LEFT_HOLD_MS passed", async () => {
  const conn = welcoming("t1");
  const h = harness([conn]);
  await h.client.start();
  conn.push({ type: "presence", left: { id: "ann_0002", name: "ann" }, online: 1 });
  await until(
    () => h.events.some((e) => e.type === "presence"),
    "the held presence",
    PRESENCE_LEFT_HOLD_MS + 2_000,
  );
  h.client.close();
});

Deno.test("client: the backoff starts again from the first delay after a successful connection", async () => {
  const first = welcoming("t1");
  const second = welcoming("t2");
  const h = harness([
    first,
    new ConnectError("down"),
    new ConnectError("down"),
    second,
    welcoming("t3"),
  ]);
  await h.client.start();
  first.end();
  await until(() => h.welcomes.length === 2, "the reconnect after two failures");
  const before = h.statuses.filter((s) => s.state === "reconnecting").map((s) => s.attempt);
  assert.deepEqual(before, [1, 2, 3]); // 250, 500, 1000 ms with random() = 0
  second.end();
  await until(() => h.welcomes.length === 3, "the next reconnect");
  const after = h.statuses.filter((s) => s.state === "reconnecting").map((s) => s.attempt);
  assert.deepEqual(after, [1, 2, 3, 1], "attempt 1 again: the shortest delay");
  h.client.close();
});

// ---- on a fake clock: the backoff, pings, the idle limit, the drain, held "left" frames ----------

/** The waits before each reconnect attempt so far: retryAt less the time it was said. */
const waits = (h: Harness) =>
  h.statuses.flatMap((s, i) => s.state === "reconnecting" ? [s.retryAt - h.statusTimes[i]] : []);

/** A connection that welcomes with these limits and counts the pings it gets. */
function limited(token: string, heartbeatMs: number, idleTimeoutMs: number) {
  const w = welcome(token);
  return new FakeConnection((frame, conn) => {
    if (frame.type === "hello") {
      conn.push({ ...w, limits: { ...w.limits, heartbeatMs, idleTimeoutMs } });
    }
  });
}
const pings = (conn: FakeConnection) => conn.sent.filter((f) => f.type === "ping").length;
const down = () => new ConnectError("cannot connect to x:1: connection refused");

Deno.test("client (clock): no attempt before its delay; the delays double, and start again after a connection", async () => {
  const clock = new FakeClock();
  const first = welcoming("t1");
  const second = welcoming("t2");
  const h = harness([first, down(), down(), down(), second, welcoming("t3")], undefined, clock);
  await h.client.start();
  first.end();
  await clock.advance(0);
  assert.deepEqual(waits(h), [250]); // random() = 0: half of the 500 ms base
  await clock.advance(249);
  assert.equal(h.connects, 1, "not before the delay");
  await clock.advance(1);
  assert.equal(h.connects, 2);
  assert.deepEqual(waits(h), [250, 500]);
  await clock.advance(500 + 1000);
  assert.deepEqual(waits(h), [250, 500, 1000, 2000]);
  assert.equal(h.connects, 4);
  await clock.advance(1999);
  assert.equal(h.welcomes.length, 1);
  await clock.advance(1);
  assert.equal(h.welcomes.length, 2);
  assert.deepEqual(h.statuses.at(-1), { state: "connected" });
  // dropped again: the first delay, not the next one
  second.end();
  await clock.advance(0);
  assert.deepEqual(waits(h).slice(4), [250]);
  await clock.advance(250);
  assert.equal(h.welcomes.length, 3);
  h.client.close();
  assert.equal(clock.pending, 0, "no timer left behind");
});

Deno.test("client (clock): with the most jitter the delays double up to the cap and stay there", async () => {
  const clock = new FakeClock();
  const first = welcoming("t1");
  const h = harness([first, ...Array.from({ length: 10 }, down)], undefined, clock);
  (h.client.options as { random?: () => number }).random = () => 1;
  await h.client.start();
  first.end();
  await clock.advance(0);
  for (let i = 0; i < 10; i++) await clock.advance(clock.next! - clock.now());
  assert.equal(h.connects, 11);
  assert.deepEqual(waits(h), [
    500,
    1000,
    2000,
    4000,
    8000,
    16000,
    RECONNECT_CAP_MS,
    RECONNECT_CAP_MS,
    RECONNECT_CAP_MS,
    RECONNECT_CAP_MS,
    RECONNECT_CAP_MS,
  ]);
  // the attempt that failed says why, on the next wait
  const last = h.statuses.at(-1);
  assert.ok(last?.state === "reconnecting" && /connection refused/.test(last.reason ?? ""));
  h.client.close();
  assert.equal(clock.pending, 0);
});

Deno.test("client (clock): reconnectNow tries at once, without waiting out the delay", async () => {
  const clock = new FakeClock();
  const first = welcoming("t1");
  const h = harness([first, welcoming("t2")], undefined, clock);
  await h.client.start();
  first.end();
  await clock.advance(0);
  assert.equal(h.client.reconnectNow(), "retrying");
  await clock.advance(0);
  assert.equal(h.welcomes.length, 2, "connected with no time passed");
  assert.deepEqual(h.statuses.map((s) => s.state), [
    "connected",
    "reconnecting",
    "connecting",
    "connected",
  ]);
  h.client.close();
});

Deno.test("client (clock): a ping every heartbeat the server asks for, clamped, and none after a drop", async () => {
  const clock = new FakeClock();
  const first = limited("t1", 1_000, 60_000);
  const second = limited("t2", 0, 60_000); // a server saying 0 must not make a tight loop
  const h = harness([first, second], undefined, clock);
  await h.client.start();
  await clock.advance(999);
  assert.equal(pings(first), 0);
  await clock.advance(1);
  assert.equal(pings(first), 1);
  await clock.advance(2_000);
  assert.equal(pings(first), 3);
  first.end();
  await clock.advance(250); // the reconnect
  assert.equal(h.welcomes.length, 2);
  await clock.advance(1_000);
  assert.equal(pings(first), 3, "the old connection gets no more");
  assert.equal(pings(second), 1_000 / MIN_HEARTBEAT_MS);
  h.client.close();
  assert.equal(clock.pending, 0);
});

Deno.test("client (clock): a server silent past its idle limit is left; anything it says keeps it", async () => {
  const clock = new FakeClock();
  const first = limited("t1", 1_000, 2_500);
  const h = harness([first, welcoming("t2")], undefined, clock);
  await h.client.start();
  await clock.advance(1_500);
  first.push({ type: "pong" }); // heard at 1.5 s
  await clock.advance(2_500); // 4 s: 2.5 s since, not more
  assert.equal(h.welcomes.length, 1);
  assert.equal(pings(first), 4);
  await clock.advance(1_000); // 5 s: 3.5 s of silence
  assert.equal(h.statuses.at(-1)?.state, "reconnecting");
  assert.equal(pings(first), 4, "closed instead of pinging");
  await clock.advance(250);
  assert.equal(h.welcomes.length, 2);
  h.client.close();
});

Deno.test("client (clock): the drain waits for every answer, at most its timeout", async () => {
  const clock = new FakeClock();
  let answer: (() => void) | undefined;
  const conn = new FakeConnection((frame, c) => {
    if (frame.type === "hello") c.push(welcome("t1"));
    if (frame.type === "send") {
      answer = () =>
        c.push({ type: "ack", ref: frame.ref, id: "01JABCDEFGHJKMNPQRSTVWXYZ0", time: 1 });
    }
  });
  const h = harness([conn], undefined, clock);
  await h.client.start();
  assert.equal(await h.client.drain(1_000), true, "nothing to wait for");

  void h.client.request({ type: "send", text: "one" });
  let drained: boolean | undefined;
  void h.client.drain(1_000).then((d) => (drained = d));
  await clock.advance(999);
  assert.equal(drained, undefined, "still waiting");
  await clock.advance(1);
  assert.equal(drained, false, "timed out with the send unanswered");

  drained = undefined;
  void h.client.drain(1_000).then((d) => (drained = d));
  await clock.advance(300);
  answer!();
  await clock.advance(0);
  assert.equal(drained, true, "answered after 300 ms");
  assert.equal(clock.pending, 1, "only the pings' timer is left");

  void h.client.request({ type: "who" });
  drained = undefined;
  void h.client.drain(60_000).then((d) => (drained = d));
  h.client.close();
  await clock.advance(0);
  assert.equal(drained, false, "the client ended first");
  assert.equal(clock.pending, 0);
});

Deno.test("client (clock): a held 'left' shows exactly PRESENCE_LEFT_HOLD_MS later", async () => {
  const clock = new FakeClock();
  const conn = welcoming("t1");
  const h = harness([conn], undefined, clock);
  await h.client.start();
  conn.push({ type: "presence", left: { id: "ann_0002", name: "ann" }, online: 1 });
  await clock.advance(PRESENCE_LEFT_HOLD_MS - 1);
  assert.equal(h.events.filter((e) => e.type === "presence").length, 0);
  await clock.advance(1);
  assert.equal(h.events.filter((e) => e.type === "presence").length, 1);
  // a goodbye inside the hold drops what is held, and its timer
  conn.push({ type: "presence", left: { id: "bob_0003", name: "bob" }, online: 0 });
  await clock.advance(100);
  conn.push({ type: "goodbye", reason: "bye", message: "bye" });
  await clock.advance(PRESENCE_LEFT_HOLD_MS);
  assert.equal(h.events.filter((e) => e.type === "presence").length, 1);
  conn.end();
  assert.equal((await h.client.ended).code, 0);
  assert.equal(clock.pending, 0);
});
