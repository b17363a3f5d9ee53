// Unit tests for src/server/hub.ts: presence, identities, routing, permissions, expiry —
// driven with fake peers, an in-memory store, an injected clock and injected id digits. These go
// through the whole hub; each part it wires has tests of its own (admission_test, presence_test,
// messages_test, history_test, limiters_test, handlers_test).
//
// Run: deno test -A --lock=deno.dev.lock tests/hub_test.ts

import assert from "node:assert/strict";
import { join } from "node:path";
import { FrameCutter } from "../src/protocol/codec.ts";
import { ClientFrame, GENERAL_ROOM, ServerFrame } from "../src/protocol/schema.ts";
import {
  DEFAULT_MAX_RATE,
  EXPIRIES_PER_TICK,
  EXPIRY_RETRY_MS,
  HISTORY_ON_JOIN,
  Hub,
  MAX_RATE_STRIKES,
  MAX_SESSIONS_PER_USER,
  PRESENCE_INTERVAL_MS,
  PRESENCE_NAMES_LIMIT,
  REPLAY_LIMIT,
  SENT_REF_TTL_MS,
  TOKEN_REUSE_GRACE_MS,
  USERS_LIST_LIMIT,
} from "../src/server/hub.ts";
import { burstFor } from "../src/server/rate.ts";
import { PASSWORD_GUESS_BURST } from "../src/server/password.ts";
import { Logger } from "../src/server/log.ts";
import type { Searcher, SearchOutcome } from "../src/server/search/searcher.ts";
import type { Write, Written } from "../src/server/store/store.ts";
import { MAX_SEARCH_RESULTS } from "../src/protocol/schema.ts";
import { ulid } from "ulid";
import { SqliteStore } from "../src/server/store/sqlite.ts";
import { clientFrame, commitSizes, FakePeer, T0 } from "./fixtures.ts";

interface World {
  hub: Hub;
  /** What the hub asked to run later (delayed refusals), in order. */
  scheduled: { fn: () => void; ms: number }[];
  store: SqliteStore;
  clock: { t: number };
  /** Connects a fresh peer and says hello; returns it (welcomed, frames cleared unless keep). */
  join(name: string, extra?: Record<string, unknown>, keep?: boolean): FakePeer;
  /** Joins them in turn; every one's frames cleared once all are in (presence included). */
  joinAll(...names: string[]): FakePeer[];
  /** Sends a raw client frame through the schema, as the session does. */
  say(peer: FakePeer, frame: Record<string, unknown>): void;
  /** Lets answers that come later (searches) arrive. */
  settle(): Promise<void>;
  /** With `deferCommit`: the group commits waiting for the end of the turn. */
  deferred: (() => void)[];
}

function world(
  options: {
    password?: string;
    maxRate?: number | "default";
    store?: SqliteStore;
    /** New ids per address per hour; the tests of other things turn the limit off. */
    newIds?: number;
    log?: (line: string) => void;
    searcher?: Searcher;
    /** Leave the group commit for the end of the turn (`deferred`), as the server does. */
    deferCommit?: boolean;
  } = {},
) {
  const store = options.store ?? new SqliteStore(":memory:");
  const clock = { t: T0 };
  let n = 0;
  const scheduled: { fn: () => void; ms: number }[] = [];
  const deferred: (() => void)[] = [];
  const hub = new Hub({
    later: (fn, ms) => void scheduled.push({ fn, ms }),
    // group commit at once, so a test sees the effects of each frame right after it
    defer: options.deferCommit ? (fn) => void deferred.push(fn) : (fn) => fn(),
    store,
    version: "test",
    password: options.password,
    // the tests of other things turn the rate limit off; "default" leaves the hub's own
    maxRate: options.maxRate === "default" ? undefined : options.maxRate ?? 0,
    newIdsPerAddressPerHour: options.newIds ?? 0,
    searcher: options.searcher,
    // the log as an operator reads it (text), into the test's lines
    log: options.log && new Logger({ write: options.log, level: "debug", now: () => clock.t }),
    now: () => clock.t,
    digits: () => String(++n % 10000).padStart(4, "0"),
  });
  const say = (peer: FakePeer, frame: Record<string, unknown>) =>
    hub.handle(peer, clientFrame(frame));
  const w: World = {
    hub,
    store,
    clock,
    scheduled,
    deferred,
    say,
    settle: () => new Promise((resolve) => setTimeout(resolve, 0)),
    joinAll(...names) {
      const peers = names.map((name) => w.join(name));
      for (const peer of peers) peer.clear();
      return peers;
    },
    join(name, extra = {}, keep = false) {
      const peer = new FakePeer(name);
      say(peer, { type: "hello", name, ...extra });
      assert.equal(peer.frames[0]?.type, "welcome", `${name} was not welcomed`);
      if (!keep) peer.clear();
      return peer;
    },
  };
  return w;
}

function welcomeOf(peer: FakePeer) {
  const [welcome] = peer.of("welcome");
  assert.ok(welcome, `${peer.label} has no welcome`);
  return welcome;
}

/** tom online (his welcome kept; his token, to come back with) and alice. */
function tomAndAlice() {
  const w = world();
  const tom = w.join("tom", {}, true);
  const token = welcomeOf(tom).token;
  const alice = w.join("alice");
  return { w, tom, token, alice };
}

function messages(peer: FakePeer) {
  return peer.of("message");
}

// ---- hello and presence -----------------------------------------------------------------------

Deno.test("hello: welcome with my id, a token, who is online, limits and version", () => {
  const w = world();
  const tom = w.join("tom", {}, true);
  const welcome = welcomeOf(tom);
  assert.deepEqual(welcome.you, { id: "tom_0001", name: "tom" });
  assert.match(welcome.token, /^[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(welcome.users, [{ id: "tom_0001", name: "tom" }]);
  assert.equal(welcome.limits.maxTextLength, 4000);
  assert.equal(welcome.limits.maxRecipients, 32);
  assert.equal(welcome.server.version, "test");
  assert.deepEqual(tom.user, { id: "tom_0001", name: "tom" });
  assert.equal(tom.closed, undefined);
  // no presence about myself
  assert.deepEqual(tom.of("presence"), []);
  assert.deepEqual(w.hub.users(), [{ id: "tom_0001", name: "tom" }]);
});

Deno.test("hello: the token is stored only as its hash", () => {
  const w = world();
  const tom = w.join("tom", {}, true);
  const { token } = welcomeOf(tom);
  const identity = w.store.identity("tom_0001");
  assert.ok(identity);
  assert.notEqual(identity.tokenHash, token);
  assert.match(identity.tokenHash, /^[0-9a-f]{64}$/);
});

Deno.test("hello: a second user's join is announced to the first only", () => {
  const w = world();
  const tom = w.join("tom");
  const alice = w.join("alice", {}, true);
  assert.deepEqual(tom.frames, [
    { type: "presence", joined: { id: "alice_0002", name: "alice" }, online: 2 },
  ]);
  assert.deepEqual(alice.of("presence"), []);
  assert.deepEqual(welcomeOf(alice).users.map((u) => u.id), ["tom_0001", "alice_0002"]);
});

Deno.test("hello: two people with the same name get different ids", () => {
  const w = world();
  const [a, b] = w.joinAll("sam", "sam");
  assert.notEqual(a.user!.id, b.user!.id);
  assert.match(a.user!.id, /^sam_[0-9]{4}$/);
  assert.match(b.user!.id, /^sam_[0-9]{4}$/);
});

Deno.test("hello: an id already issued (in any case) is never issued again", () => {
  const w = world();
  // the injected digits give 0001 first: make Tom_0001 already taken
  w.store.createIdentity({ id: "Tom_0001", name: "Tom", tokenHash: "x", createdAt: 0 });
  const tom = w.join("tom");
  assert.notEqual(tom.user!.id.toLowerCase(), "tom_0001");
});

Deno.test("hello: when every 4-digit id of a name is taken, the name gets a 5-digit id", () => {
  const w = world();
  for (let i = 0; i < 10_000; i++) {
    w.store.createIdentity({
      id: `max_${String(i).padStart(4, "0")}`,
      name: "max",
      tokenHash: "x",
      createdAt: 0,
    });
  }
  const max = w.join("max");
  assert.match(max.user!.id, /^max_[0-9]{5}$/);
  assert.equal(max.closed, undefined);
  assert.deepEqual(w.hub.users().map((u) => u.id), [max.user!.id]);
});

Deno.test("hello: a second hello on the same connection is refused", () => {
  const w = world();
  const tom = w.join("tom");
  w.say(tom, { type: "hello", name: "other" });
  assert.equal(tom.last().type, "error");
  assert.equal((tom.last() as { code: string }).code, "already_hello");
  assert.equal(tom.user!.id, "tom_0001");
});

Deno.test("disconnect: the others see a left presence at once", () => {
  const w = world();
  const [tom, alice, bob] = w.joinAll("tom", "alice", "bob");
  w.hub.disconnect(alice);
  const left = { type: "presence", left: { id: "alice_0002", name: "alice" }, online: 2 };
  assert.deepEqual(tom.frames, [left]);
  assert.deepEqual(bob.frames, [left]);
  assert.deepEqual(alice.frames, []);
  assert.deepEqual(w.hub.users().map((u) => u.id), ["tom_0001", "bob_0003"]);
  // a second disconnect of the same peer is a no-op
  w.hub.disconnect(alice);
  assert.equal(tom.frames.length, 1);
});

Deno.test("disconnect: a peer that never said hello leaves no trace", () => {
  const w = world();
  const tom = w.join("tom");
  w.hub.disconnect(new FakePeer("anon"));
  assert.deepEqual(tom.frames, []);
});

// ---- before hello -----------------------------------------------------------------------------

Deno.test("before hello: send, who, history are refused with not_ready; ping works", async () => {
  const w = world();
  const tom = w.join("tom");
  const anon = new FakePeer("anon");
  w.say(anon, { type: "send", ref: "r1", text: "sneaky" });
  w.say(anon, { type: "who", ref: "r2" });
  w.say(anon, { type: "history", ref: "r3", limit: 10 });
  w.say(anon, { type: "search", ref: "r4", pattern: "x" });
  await w.settle();
  w.say(anon, { type: "delete", ref: "r5", id: "01J9ZQ3V5W8X2Y4Z6A7B8C9D0E" });
  const errors = anon.of("error");
  assert.equal(errors.length, 5);
  assert.deepEqual(errors.map((e) => e.code), Array(5).fill("not_ready"));
  assert.deepEqual(errors.map((e) => e.ref), ["r1", "r2", "r3", "r4", "r5"]);
  assert.deepEqual(tom.frames, [], "nothing reached anyone");
  assert.equal(w.store.latestSeq(), 0, "nothing was stored");
  w.say(anon, { type: "ping" });
  // before hello a ping is a health check: it says which server this is
  assert.deepEqual(anon.last(), { type: "pong", server: { version: "test" } });
});

// ---- public and direct messages ---------------------------------------------------------------

Deno.test("send public: everyone gets the same encoded bytes; the sender then an ack", () => {
  const w = world();
  const [tom, alice, bob] = w.joinAll("tom", "alice", "bob");
  w.clock.t = T0 + 5;
  w.say(tom, { type: "send", ref: "r1", text: "hello all" });
  for (const peer of [tom, alice, bob]) {
    const [message] = messages(peer);
    assert.ok(message, `${peer.label} got the message`);
    assert.equal(message.from, "tom_0001");
    assert.equal(message.text, "hello all");
    assert.equal(message.time, T0 + 5);
    assert.equal(message.to, undefined);
    assert.equal(message.replay, undefined);
  }
  // encoded once: the very same Uint8Array went to every peer
  assert.equal(tom.raw[0], alice.raw[0]);
  assert.equal(alice.raw[0], bob.raw[0]);
  // the sender: message first, then the ack naming the stored id
  assert.deepEqual(tom.frames.map((f) => f.type), ["message", "ack"]);
  const ack = tom.of("ack")[0];
  assert.equal(ack.ref, "r1");
  assert.equal(ack.id, messages(tom)[0].id);
  assert.equal(ack.time, T0 + 5);
  assert.deepEqual(alice.frames.map((f) => f.type), ["message"]);
  // persisted before the ack
  assert.equal(w.store.message(ack.id)?.text, "hello all");
});

Deno.test("send: message ids are ULIDs, increasing", () => {
  const w = world();
  const tom = w.join("tom");
  for (let i = 0; i < 5; i++) w.say(tom, { type: "send", ref: `r${i}`, text: `m${i}` });
  const ids = messages(tom).map((m) => m.id);
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, 5);
});

Deno.test("send: forged from/time/id are ignored; from is the peer's id", () => {
  const w = world();
  const [tom, alice] = w.joinAll("tom", "alice");
  w.clock.t = T0 + 99;
  w.say(tom, {
    type: "send",
    ref: "r1",
    text: "I am alice",
    from: "alice_0002",
    time: 1,
    id: "01J9ZQ3V5W8X2Y4Z6A7B8C9D0E",
  });
  const [message] = messages(alice);
  assert.equal(message.from, "tom_0001");
  assert.equal(message.time, T0 + 99);
  assert.notEqual(message.id, "01J9ZQ3V5W8X2Y4Z6A7B8C9D0E");
});

Deno.test("send direct: only the sender and the recipients get it", async () => {
  const w = world();
  const [tom, alice, bob] = w.joinAll("tom", "alice", "bob");
  w.say(tom, { type: "send", ref: "r1", text: "psst", to: ["alice"] });
  assert.deepEqual(tom.frames.map((f) => f.type), ["message", "ack"]);
  assert.deepEqual(alice.frames.map((f) => f.type), ["message"]);
  assert.deepEqual(bob.frames, []);
  const [message] = messages(alice);
  assert.deepEqual(message.to, ["alice_0002"]);
  assert.equal(message.from, "tom_0001");
  assert.equal(tom.raw[0], alice.raw[0], "encoded once");
  // and not later either: bob's history never has it
  w.say(bob, { type: "history", ref: "h", limit: 50 });
  assert.deepEqual(bob.of("results")[0].messages, []);
  w.say(bob, { type: "search", ref: "s", pattern: "psst" });
  await w.settle();
  assert.equal(bob.of("results")[1].total, 0);
});

Deno.test("send direct: to several by id (any case) and name, sender included once", () => {
  const w = world();
  const [tom, alice, bob, carol] = w.joinAll("tom", "alice", "bob", "carol");
  for (const peer of [tom, alice, bob]) peer.clear();
  w.say(tom, { type: "send", ref: "r", text: "hi", to: ["ALICE_0002", "bob", "tom_0001"] });
  assert.deepEqual(tom.frames.map((f) => f.type), ["message", "ack"], "no duplicate to self");
  assert.equal(messages(alice).length, 1);
  assert.equal(messages(bob).length, 1);
  assert.deepEqual(carol.frames, []);
  assert.deepEqual(new Set(messages(alice)[0].to), new Set(["alice_0002", "bob_0003", "tom_0001"]));
});

Deno.test("send direct: an unknown or ambiguous recipient sends nothing to anyone", () => {
  const w = world();
  const [tom, sam1, sam2] = w.joinAll("tom", "sam", "sam");
  w.say(tom, { type: "send", ref: "r1", text: "x", to: ["sam"] });
  w.say(tom, { type: "send", ref: "r2", text: "x", to: [sam1.user!.id, "nobody"] });
  w.say(tom, { type: "send", ref: "r3", text: "x", to: ["zed_9999"] });
  assert.deepEqual(tom.of("error").map((e) => [e.ref, e.code]), [
    ["r1", "ambiguous_recipient"],
    ["r2", "unknown_recipient"],
    ["r3", "unknown_recipient"],
  ]);
  assert.deepEqual(messages(tom), []);
  assert.deepEqual(sam1.frames, []);
  assert.deepEqual(sam2.frames, []);
  assert.equal(w.store.latestSeq(), 0);
});

Deno.test("send direct: to the exact id of someone offline is stored and delivered on hello", () => {
  const w = world();
  const bob = w.join("bob", {}, true);
  const bobToken = welcomeOf(bob).token;
  const bobId = bob.user!.id;
  w.hub.disconnect(bob);
  const [tom, eve] = w.joinAll("tom", "eve");
  w.say(tom, { type: "send", ref: "r1", text: "while you were out", to: [bobId] });
  assert.equal(tom.last().type, "ack");
  assert.deepEqual(messages(eve), []);
  // a bare name does not reach someone offline
  w.say(tom, { type: "send", ref: "r2", text: "x", to: ["bob"] });
  assert.equal((tom.last() as { code: string }).code, "unknown_recipient");

  const again = w.join("bob", { token: bobToken }, true);
  assert.equal(again.user!.id, bobId);
  const delivered = messages(again);
  assert.equal(delivered.length, 1);
  assert.equal(delivered[0].text, "while you were out");
  assert.equal(delivered[0].replay, true);
  assert.deepEqual(delivered[0].to, [bobId]);
  // welcome comes first, then the backlog
  assert.equal(again.frames[0].type, "welcome");
});

Deno.test("send direct: an offline DM older than the public history window is still delivered", () => {
  const w = world();
  const bob = w.join("bob", {}, true);
  const { token } = welcomeOf(bob);
  w.hub.disconnect(bob);
  const tom = w.join("tom");
  w.say(tom, { type: "send", ref: "dm", text: "the dm", to: ["bob_0001"] });
  for (let i = 0; i < HISTORY_ON_JOIN + 10; i++) {
    w.say(tom, { type: "send", ref: `p${i}`, text: `public ${i}` });
  }
  const back = w.join("bob", { token }, true);
  const backlog = messages(back);
  assert.ok(backlog.some((m) => m.text === "the dm"), "the DM is in the backlog");
  const ids = backlog.map((m) => m.id);
  assert.deepEqual([...ids].sort(), ids, "oldest first");
  assert.equal(new Set(ids).size, ids.length, "no duplicates");
});

Deno.test("hello: a newcomer sees recent public history (replay), not others' DMs", () => {
  const w = world();
  const [tom, alice] = w.joinAll("tom", "alice");
  for (let i = 0; i < HISTORY_ON_JOIN + 5; i++) {
    w.say(tom, { type: "send", ref: `p${i}`, text: `public ${i}` });
  }
  w.say(tom, { type: "send", ref: "d", text: "secret", to: [alice.user!.id] });
  const bob = w.join("bob", {}, true);
  const backlog = messages(bob);
  assert.equal(backlog.length, HISTORY_ON_JOIN);
  assert.ok(backlog.every((m) => m.replay === true));
  assert.ok(backlog.every((m) => m.to === undefined));
  assert.ok(!backlog.some((m) => m.text === "secret"));
  assert.equal(backlog[backlog.length - 1].text, `public ${HISTORY_ON_JOIN + 4}`);
  const ids = backlog.map((m) => m.id);
  assert.deepEqual([...ids].sort(), ids, "oldest first");
});

Deno.test("hello with resume: replays what came after that id, visible only", () => {
  const w = world();
  const tom = w.join("tom");
  const alice = w.join("alice", {}, true);
  const aliceToken = welcomeOf(alice).token;
  w.say(tom, { type: "send", ref: "1", text: "seen" });
  const seen = messages(alice)[0].id;
  w.hub.disconnect(alice);
  w.say(tom, { type: "send", ref: "2", text: "missed public" });
  w.say(tom, { type: "send", ref: "3", text: "missed dm", to: ["alice_0002"] });
  w.say(tom, { type: "send", ref: "4", text: "note to self", to: ["tom_0001"] });
  const back = w.join("alice", { token: aliceToken, resume: seen }, true);
  assert.deepEqual(messages(back).map((m) => m.text), ["missed public", "missed dm"]);
  assert.ok(messages(back).every((m) => m.replay === true));
});

// ---- replies ----------------------------------------------------------------------------------

Deno.test("reply: to a public message is public and carries a quote", () => {
  const w = world();
  const [tom, alice, bob] = w.joinAll("tom", "alice", "bob");
  w.say(tom, { type: "send", ref: "1", text: "first line\nsecond line" });
  const original = messages(tom)[0].id;
  w.say(alice, { type: "send", ref: "2", text: "agreed", replyTo: original });
  const reply = messages(bob)[1];
  assert.equal(reply.from, "alice_0002");
  assert.equal(reply.replyTo, original);
  assert.equal(reply.to, undefined);
  assert.deepEqual(reply.quote, { from: "tom_0001", text: "first line" });
});

Deno.test("reply: to a DM goes to that conversation only", () => {
  const w = world();
  const [tom, alice, bob, carol] = w.joinAll("tom", "alice", "bob", "carol");
  w.say(tom, { type: "send", ref: "1", text: "just us", to: ["alice", "bob"] });
  const original = messages(alice)[0].id;
  w.say(alice, { type: "send", ref: "2", text: "yes", replyTo: original });
  assert.equal(alice.last().type, "ack");
  assert.equal(messages(tom).length, 2);
  assert.equal(messages(bob).length, 2);
  assert.deepEqual(messages(carol), []);
  assert.deepEqual(new Set(messages(tom)[1].to), new Set(["tom_0001", "bob_0003"]));
});

Deno.test("reply: once the original is deleted, history quotes it as deleted", () => {
  const w = world();
  const [tom, alice] = w.joinAll("tom", "alice");
  w.say(tom, { type: "send", ref: "1", text: "regret this" });
  const original = messages(tom)[0].id;
  w.say(alice, { type: "send", ref: "2", text: "lol", replyTo: original });
  w.say(tom, { type: "delete", ref: "d", id: original });
  w.say(alice, { type: "history", ref: "h", limit: 50 });
  const results = alice.last() as Extract<ServerFrame, { type: "results" }>;
  assert.deepEqual(results.messages.map((m) => m.text), ["lol"]);
  assert.deepEqual(results.messages[0].quote, { deleted: true });
  const bob = w.join("bob", {}, true);
  assert.ok(!JSON.stringify(bob.frames).includes("regret this"));
});

Deno.test("reply: to a DM you are not part of is not_found, like a missing id", () => {
  const w = world();
  const [tom, alice, eve] = w.joinAll("tom", "alice", "eve");
  w.say(tom, { type: "send", ref: "1", text: "private", to: ["alice"] });
  const original = messages(alice)[0].id;
  w.say(eve, { type: "send", ref: "2", text: "what?", replyTo: original });
  w.say(eve, { type: "send", ref: "3", text: "what?", replyTo: "01J9ZQ3V5W8X2Y4Z6A7B8C9D0E" });
  const errors = eve.of("error");
  assert.deepEqual(errors.map((e) => e.code), ["not_found", "not_found"]);
  assert.equal(errors[0].message, errors[1].message, "no hint that the DM exists");
  assert.equal(messages(tom).length, 1);
  assert.equal(messages(alice).length, 1);
  assert.ok(!eve.frames.some((f) => JSON.stringify(f).includes("private")));
});

// ---- tokens and replacement -------------------------------------------------------------------

Deno.test("token: reclaims the id; a wrong token or none gives a new id", () => {
  const w = world();
  const tom = w.join("tom", {}, true);
  const { token } = welcomeOf(tom);
  w.hub.disconnect(tom);
  const back = w.join("tom", { token }, true);
  assert.equal(back.user!.id, "tom_0001");
  const rotated = welcomeOf(back).token;
  assert.notEqual(rotated, token, "a token is replaced each time it is used");
  w.hub.disconnect(back);
  const again = w.join("tom", { token: rotated }, true);
  assert.equal(again.user!.id, "tom_0001", "the new token works");
  w.hub.disconnect(again);
  const stranger = w.join("tom", { token: "not-the-token" }, true);
  assert.notEqual(stranger.user!.id, "tom_0001");
  assert.notEqual(welcomeOf(stranger).token, token);
  const noToken = w.join("tom");
  assert.notEqual(noToken.user!.id, "tom_0001");
});

Deno.test("token: a replaced token works once more within TOKEN_REUSE_GRACE_MS, as a second session; later never", () => {
  const lines: string[] = [];
  const w = world({ log: (line) => lines.push(line) });
  const first = w.join("tom", {}, true);
  const t0 = welcomeOf(first).token;
  w.hub.disconnect(first);
  // t0 is used and replaced by t1, whose welcome is then lost (or t0 was copied)
  const second = w.join("tom", { token: t0 }, true);
  const t1 = welcomeOf(second).token;
  w.hub.disconnect(second);
  w.clock.t += TOKEN_REUSE_GRACE_MS - 1;
  const copy = w.join("tom", { token: t0 }, true);
  assert.equal(copy.user!.id, "tom_0001", "within the grace the replaced token still works");
  assert.match(
    lines.join("\n"),
    /WARN {2}a replaced token was presented again; it opens a second session id=tom_0001/,
  );
  w.say(copy, { type: "sessions", ref: "s" });
  const [listed] = copy.of("sessions");
  assert.equal(listed.sessions.length, 2, "it opened a second session");
  assert.equal(listed.sessions.filter((s) => s.current).length, 1);
  w.hub.disconnect(copy);
  // t1 still works: both sessions go on
  const owner = w.join("tom", { token: t1 }, true);
  assert.equal(owner.user!.id, "tom_0001");
  const t2 = welcomeOf(owner).token;
  w.hub.disconnect(owner);
  // t1 again, after the grace: refused, a new id instead
  w.clock.t += TOKEN_REUSE_GRACE_MS + 1;
  const late = w.join("tom", { token: t1 }, true);
  assert.notEqual(late.user!.id, "tom_0001");
  assert.match(
    lines.join("\n"),
    /WARN {2}an old token was presented; refused id=tom_0001 address=\?/,
  );
  w.hub.disconnect(late);
  assert.equal(w.join("tom", { token: t2 }).user!.id, "tom_0001", "the current one works");
});

Deno.test("sessions: listed with when and where; logout_others revokes every other one", () => {
  const w = world();
  const laptop = w.join("tom", {}, true);
  const t0 = welcomeOf(laptop).token;
  w.hub.disconnect(laptop);
  const phone = w.join("tom", { token: t0 }, true); // t0 → t1
  const t1 = welcomeOf(phone).token;
  w.hub.disconnect(phone);
  w.clock.t += 1_000;
  const thief = w.join("tom", { token: t0 }, true); // a copy of t0: a second session
  const stolen = welcomeOf(thief).token;
  // the owner comes back: the thief's connection is replaced
  const owner = w.join("tom", { token: t1 }, true);
  assert.equal(thief.closed?.reason, "replaced");
  w.say(owner, { type: "sessions", ref: "list" });
  const [listed] = owner.of("sessions");
  assert.equal(listed.ref, "list");
  assert.equal(listed.sessions.length, 2);
  const current = listed.sessions.find((s) => s.current)!;
  assert.equal(current.lastSeenAt, w.clock.t);
  assert.ok(listed.sessions.every((s) => /^[0-9a-f]{12}$/.test(s.id)));
  w.say(owner, { type: "logout_others", ref: "out" });
  const [after] = owner.of("sessions").filter((f) => f.ref === "out");
  assert.deepEqual(after.sessions.map((s) => s.id), [current.id]);
  // the thief's token is refused, and told why
  const back = new FakePeer("thief");
  w.say(back, { type: "hello", name: "tom", token: stolen });
  assert.equal(back.of("welcome").length, 0);
  assert.equal(back.of("error")[0].code, "revoked");
  assert.match(back.of("error")[0].message, /signed out from another session/);
  assert.equal(back.closed?.reason, "revoked");
  // the owner's own token still works
  w.hub.disconnect(owner);
  const ownerToken = welcomeOf(owner).token;
  assert.equal(w.join("tom", { token: ownerToken }).user!.id, "tom_0001");
});

Deno.test("sessions: at most MAX_SESSIONS_PER_USER, the least recently seen go first", () => {
  const w = world();
  const first = w.join("tom", {}, true);
  let token = welcomeOf(first).token;
  w.hub.disconnect(first);
  const forks: string[] = [];
  for (let i = 0; i < MAX_SESSIONS_PER_USER + 5; i++) {
    w.clock.t += 1;
    // the main session's token is used (and replaced); a copy of the old one opens another
    const main = w.join("tom", { token }, true);
    const replaced = token;
    token = welcomeOf(main).token;
    w.hub.disconnect(main);
    const fork = w.join("tom", { token: replaced }, true);
    assert.equal(fork.user!.id, "tom_0001");
    forks.push(welcomeOf(fork).token);
    w.hub.disconnect(fork);
  }
  const peer = w.join("tom", { token });
  w.say(peer, { type: "sessions", ref: "s" });
  assert.equal(peer.of("sessions")[0].sessions.length, MAX_SESSIONS_PER_USER);
  w.hub.disconnect(peer);
  // the oldest forks were dropped: their tokens get a new id; the newest still work
  assert.notEqual(w.join("tom", { token: forks[0] }).user!.id, "tom_0001");
  assert.equal(w.join("tom", { token: forks.at(-1)! }).user!.id, "tom_0001");
});

Deno.test("token: under another name it does not reclaim the id", () => {
  const w = world();
  const tom = w.join("tom", {}, true);
  const { token } = welcomeOf(tom);
  w.hub.disconnect(tom);
  const other = w.join("alice", { token });
  assert.notEqual(other.user!.id, "tom_0001");
  assert.match(other.user!.id, /^alice_/);
});

Deno.test("token: a second login replaces the first quietly (no left/joined flicker)", () => {
  const w = world();
  const first = w.join("tom", {}, true);
  const { token } = welcomeOf(first);
  first.clear();
  const alice = w.join("alice");
  first.clear();
  const second = w.join("tom", { token }, true);
  assert.equal(second.user!.id, "tom_0001");
  assert.equal(first.closed?.reason, "replaced");
  assert.equal(first.user, undefined);
  assert.deepEqual(alice.frames, [], "no presence for a replacement");
  assert.deepEqual(w.hub.users().map((u) => u.id), ["tom_0001", "alice_0002"]);
  // the old connection's end does not make tom leave
  w.hub.disconnect(first);
  assert.deepEqual(alice.frames, []);
  assert.deepEqual(w.hub.users().map((u) => u.id), ["tom_0001", "alice_0002"]);
  // messages reach the new connection only
  first.clear();
  w.say(alice, { type: "send", ref: "1", text: "hi tom", to: ["tom_0001"] });
  assert.equal(messages(second).length, 1);
  assert.deepEqual(first.frames, []);
  // the old connection can no longer act as tom
  w.say(first, { type: "send", ref: "2", text: "ghost" });
  assert.equal((first.last() as { code: string }).code, "not_ready");
});

// ---- password ---------------------------------------------------------------------------------

Deno.test("password: missing → bad_password and close", () => {
  const w = world({ password: "hunter2" });
  const peer = new FakePeer("tom");
  w.say(peer, { type: "hello", name: "tom" });
  assert.deepEqual(peer.frames.map((f) => f.type), ["error"]);
  assert.equal(peer.of("error")[0].code, "bad_password");
  assert.equal(peer.closed?.reason, "bad_password");
  assert.equal(peer.user, undefined);
  assert.deepEqual(w.hub.users(), []);
});

Deno.test("password: wrong → bad_password and close, nothing issued", () => {
  const w = world({ password: "hunter2" });
  const peer = new FakePeer("tom");
  w.say(peer, { type: "hello", name: "tom", password: "hunter3" });
  // answered after a delay, not at once
  assert.deepEqual(peer.frames, []);
  assert.equal(w.scheduled.length, 1);
  w.scheduled.shift()!.fn();
  assert.equal(peer.of("error")[0].code, "bad_password");
  assert.equal(peer.closed?.reason, "bad_password");
  assert.equal(peer.of("welcome").length, 0);
  assert.equal(w.store.canonicalId("tom_0001"), null, "no identity for a rejected login");
  w.clock.t += 1000; // past that failure's delay
  const longer = new FakePeer("tom");
  w.say(longer, { type: "hello", name: "tom", password: "hunter2-and-more" });
  w.scheduled.shift()!.fn();
  assert.equal(longer.closed?.reason, "bad_password");
});

Deno.test("password: repeated failures from one address are answered ever more slowly", () => {
  const w = world({ password: "hunter2" });
  const guess = (address: string) => {
    const peer = Object.assign(new FakePeer("guesser"), { address });
    w.say(peer, { type: "hello", name: "eve", password: "guess" });
    // while the refusal waits, nothing else from that connection is heard
    w.say(peer, { type: "hello", name: "eve", password: "hunter2" });
    assert.deepEqual(peer.frames, []);
    const { fn, ms } = w.scheduled.shift()!;
    fn();
    assert.equal(peer.closed?.reason, "bad_password");
    w.clock.t += ms; // the guesser waits its answer out before the next guess
    return ms;
  };
  assert.deepEqual([guess("10.0.0.1"), guess("10.0.0.1"), guess("10.0.0.1")], [1000, 2000, 4000]);
  assert.equal(guess("10.0.0.2"), 1000, "another address is not slowed");
  for (let i = 0; i < 10; i++) guess("10.0.0.1");
  assert.equal(guess("10.0.0.1"), 30_000, "capped");
  w.clock.t += 11 * 60_000;
  assert.equal(guess("10.0.0.1"), 1000, "forgotten after a quiet while");
});

Deno.test("password: until a wrong one's delay has passed, no password from that address is looked at", () => {
  const w = world({ password: "hunter2" });
  const from = (address: string) => Object.assign(new FakePeer("p"), { address });
  const wrong = from("10.0.0.1");
  w.say(wrong, { type: "hello", name: "eve", password: "guess" });
  const { fn, ms } = w.scheduled.shift()!;
  assert.equal(ms, 1000);
  // the right password from the same address, before that delay is over: refused unchecked, at
  // once, so hanging up early tells a guesser nothing
  w.clock.t += 400;
  const right = from("10.0.0.1");
  w.say(right, { type: "hello", name: "tom", password: "hunter2" });
  assert.equal(right.of("welcome").length, 0);
  assert.equal(right.closed?.reason, "bad_password");
  const [refusal] = right.of("error") as { code: string; message: string }[];
  assert.equal(refusal.code, "bad_password");
  assert.match(refusal.message, /too many wrong passwords from your address; try again in 1 s/);
  assert.equal(w.scheduled.length, 0, "not counted as another failure");
  // another address is not held up
  const elsewhere = from("10.0.0.2");
  w.say(elsewhere, { type: "hello", name: "ann", password: "hunter2" });
  assert.equal(elsewhere.of("welcome").length, 1);
  // once the delay has passed, the right password gets in from there too
  fn();
  w.clock.t += 600;
  const later = from("10.0.0.1");
  w.say(later, { type: "hello", name: "tom", password: "hunter2" });
  assert.equal(later.of("welcome").length, 1);
});

Deno.test("password: a missing one is refused at once with a hint", () => {
  const w = world({ password: "hunter2" });
  const peer = new FakePeer("tom");
  w.say(peer, { type: "hello", name: "tom" });
  assert.equal(peer.of("error")[0].code, "bad_password");
  assert.match(peer.of("error")[0].message, /needs a password/);
  assert.equal(w.scheduled.length, 0);
});

Deno.test("password: right → welcome", () => {
  const w = world({ password: "hunter2" });
  const tom = w.join("tom", { password: "hunter2" }, true);
  assert.equal(tom.closed, undefined);
  assert.equal(welcomeOf(tom).you.id, "tom_0001");
});

Deno.test("shutdown: every connection is told and closed", () => {
  const w = world();
  const [tom, alice] = w.joinAll("tom", "alice");
  w.hub.shutdown("maintenance");
  assert.deepEqual(tom.closed, { reason: "shutdown", message: "maintenance" });
  assert.deepEqual(alice.closed, { reason: "shutdown", message: "maintenance" });
});

// ---- who, history, ping -----------------------------------------------------------------------

Deno.test("who: the users online, in join order", () => {
  const w = world();
  const tom = w.join("tom");
  w.join("alice");
  w.say(tom, { type: "who", ref: "w" });
  assert.deepEqual(tom.last(), {
    type: "users",
    ref: "w",
    users: [{ id: "tom_0001", name: "tom" }, { id: "alice_0002", name: "alice" }],
    online: 2,
  });
});

Deno.test("presence: past PRESENCE_NAMES_LIMIT joins cost a count per interval, not n² names", () => {
  const w = world();
  const first = w.join("first");
  let bytes = 0;
  const countBytes = (peer: FakePeer) => peer.raw.reduce((n, b) => n + b.length, 0);
  const peers = [first];
  for (let i = 1; i < PRESENCE_NAMES_LIMIT + 300; i++) peers.push(w.join(`u${i}`, {}, true));
  // below the limit: a named delta per join; above it: nothing until the tick
  const named = first.of("presence").filter((p) => p.joined).length;
  assert.equal(named, PRESENCE_NAMES_LIMIT - 1);
  // welcomes list at most PRESENCE_NAMES_LIMIT users, with the full count
  const last = welcomeOf(peers.at(-1)!);
  assert.equal(last.users.length, PRESENCE_NAMES_LIMIT);
  assert.equal(last.online, PRESENCE_NAMES_LIMIT + 300);
  for (const peer of peers) bytes += countBytes(peer);
  w.clock.t += PRESENCE_INTERVAL_MS;
  first.clear();
  w.hub.tick();
  assert.deepEqual(first.frames, [{ type: "presence", online: PRESENCE_NAMES_LIMIT + 300 }]);
  w.hub.tick();
  assert.equal(first.frames.length, 1, "no count without a change");
  // total presence bytes grow linearly: bounded by a constant per client, not by clients²
  assert.ok(bytes / peers.length < 20_000, `${bytes / peers.length} bytes per client`);
});

Deno.test("history: pages backwards through what the user may see", () => {
  const w = world();
  const tom = w.join("tom");
  for (let i = 0; i < 10; i++) w.say(tom, { type: "send", ref: `${i}`, text: `m${i}` });
  const all = messages(tom).map((m) => m.id);
  w.say(tom, { type: "history", ref: "h1", limit: 3 });
  const page1 = tom.last() as Extract<ServerFrame, { type: "results" }>;
  assert.deepEqual(page1.messages.map((m) => m.text), ["m7", "m8", "m9"]);
  assert.ok(page1.messages.every((m) => m.replay));
  w.say(tom, { type: "history", ref: "h2", limit: 3, before: all[7] });
  const page2 = tom.last() as Extract<ServerFrame, { type: "results" }>;
  assert.deepEqual(page2.messages.map((m) => m.text), ["m4", "m5", "m6"]);
});

// ---- delete -----------------------------------------------------------------------------------

Deno.test("delete: the author deletes for everyone; the text is purged", async () => {
  const w = world();
  const [tom, alice] = w.joinAll("tom", "alice");
  w.say(tom, { type: "send", ref: "1", text: "oops" });
  const id = messages(tom)[0].id;
  tom.clear();
  alice.clear();
  w.say(tom, { type: "delete", ref: "d", id });
  assert.deepEqual(alice.frames, [{ type: "deleted", id, reason: "deleted" }]);
  assert.deepEqual(tom.frames.map((f) => f.type), ["deleted", "ack"]);
  assert.equal(tom.raw[0], alice.raw[0], "encoded once");
  assert.equal(w.store.message(id), null);
  // gone from history and search too
  w.say(alice, { type: "history", ref: "h", limit: 50 });
  assert.deepEqual((alice.last() as { messages: unknown[] }).messages, []);
  w.say(alice, { type: "search", ref: "s", pattern: "oops" });
  await w.settle();
  assert.equal((alice.last() as { total: number }).total, 0);
  // the author retrying the delete (say after a reconnect) is acknowledged, nothing is sent
  alice.clear();
  w.say(tom, { type: "delete", ref: "d2", id });
  assert.equal((tom.last() as { type: string }).type, "ack");
  assert.deepEqual(alice.frames, []);
  // anyone else finds nothing
  w.say(alice, { type: "delete", ref: "d3", id });
  assert.equal((alice.last() as { code: string }).code, "not_found");
});

Deno.test("delete: someone else's message is forbidden; an unseen DM is not_found", () => {
  const w = world();
  const [tom, alice, eve] = w.joinAll("tom", "alice", "eve");
  w.say(tom, { type: "send", ref: "1", text: "public" });
  w.say(tom, { type: "send", ref: "2", text: "dm", to: ["alice"] });
  const [pub, dm] = messages(tom).map((m) => m.id);
  w.say(alice, { type: "delete", ref: "a", id: pub });
  assert.equal((alice.last() as { code: string }).code, "forbidden");
  w.say(alice, { type: "delete", ref: "b", id: dm });
  assert.equal((alice.last() as { code: string }).code, "forbidden");
  w.say(eve, { type: "delete", ref: "c", id: dm });
  assert.equal((eve.last() as { code: string }).code, "not_found");
  assert.ok(w.store.message(pub));
  assert.ok(w.store.message(dm));
});

Deno.test("delete: a DM's deletion is told to its audience only", () => {
  const w = world();
  const [tom, alice, eve] = w.joinAll("tom", "alice", "eve");
  w.say(tom, { type: "send", ref: "1", text: "dm", to: ["alice"] });
  const id = messages(tom)[0].id;
  eve.clear();
  alice.clear();
  w.say(tom, { type: "delete", ref: "d", id });
  assert.deepEqual(alice.frames, [{ type: "deleted", id, reason: "deleted" }]);
  assert.deepEqual(eve.frames, []);
});

// ---- temporary messages -----------------------------------------------------------------------

Deno.test("temp: expiresAt = time + ttl; expired at the deadline, to its audience", () => {
  const w = world();
  const [tom, alice, eve] = w.joinAll("tom", "alice", "eve");
  w.say(tom, { type: "send", ref: "t", text: "brief", ttl: 30, to: ["alice"] });
  const [message] = messages(alice);
  assert.equal(message.expiresAt, T0 + 30_000);
  assert.equal(w.hub.messages.pendingExpiries, 1);
  alice.clear();
  w.hub.tick(T0 + 29_999);
  assert.deepEqual(alice.frames, []);
  assert.ok(w.store.message(message.id));
  w.clock.t = T0 + 30_000;
  w.hub.tick();
  assert.deepEqual(alice.frames, [{ type: "deleted", id: message.id, reason: "expired" }]);
  assert.equal(messages(eve).length, 0);
  assert.deepEqual(eve.of("deleted"), []);
  assert.equal(w.store.message(message.id), null);
  assert.equal(w.hub.messages.pendingExpiries, 0);
  w.hub.tick(T0 + 60_000);
  assert.equal(alice.frames.length, 1, "expired once");
});

Deno.test("temp: a message deleted before its deadline is not expired again", () => {
  const w = world();
  const [tom, alice] = w.joinAll("tom", "alice");
  w.say(tom, { type: "send", ref: "t", text: "brief", ttl: 10 });
  const id = messages(tom)[0].id;
  w.say(tom, { type: "delete", ref: "d", id });
  alice.clear();
  w.hub.tick(T0 + 60_000);
  assert.deepEqual(alice.frames, []);
});

Deno.test("temp: pending expiries survive a restart; overdue ones go at start-up", () => {
  const dir = Deno.makeTempDirSync({ prefix: "chat-hub-test-" });
  try {
    const path = join(dir, "chat.db");
    const w1 = world({ store: new SqliteStore(path) });
    const tom = w1.join("tom");
    w1.say(tom, { type: "send", ref: "a", text: "short", ttl: 5 });
    w1.say(tom, { type: "send", ref: "b", text: "long", ttl: 3600 });
    const [short, long] = messages(tom).map((m) => m.id);
    w1.store.close();

    const store = new SqliteStore(path);
    try {
      const hub = new Hub({ store, version: "test", now: () => T0 + 10_000 });
      assert.equal(store.message(short), null, "overdue at start-up: purged");
      assert.ok(store.message(long));
      assert.equal(hub.messages.pendingExpiries, 1);
      hub.tick(T0 + 3_600_000);
      assert.equal(store.message(long), null);
    } finally {
      store.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

// ---- search -----------------------------------------------------------------------------------

Deno.test("search: case-insensitive regex over what the user may see", async () => {
  const w = world();
  const [tom, alice, eve] = w.joinAll("tom", "alice", "eve");
  w.say(tom, { type: "send", ref: "1", text: "Hello World" });
  w.say(tom, { type: "send", ref: "2", text: "hello secret", to: ["alice"] });
  w.say(tom, { type: "send", ref: "3", text: "goodbye" });
  w.say(alice, { type: "search", ref: "s", pattern: "^hel+o" });
  await w.settle();
  const forAlice = alice.last() as Extract<ServerFrame, { type: "results" }>;
  assert.equal(forAlice.ref, "s");
  assert.equal(forAlice.total, 2);
  assert.deepEqual(forAlice.messages.map((m) => m.text).sort(), ["Hello World", "hello secret"]);
  w.say(eve, { type: "search", ref: "s", pattern: "HELLO" });
  await w.settle();
  const forEve = eve.last() as Extract<ServerFrame, { type: "results" }>;
  assert.equal(forEve.total, 1);
  assert.deepEqual(forEve.messages.map((m) => m.text), ["Hello World"]);
});

Deno.test("search: an invalid pattern is a bad_pattern error; a catastrophic one is fast", async () => {
  const w = world();
  const tom = w.join("tom");
  w.say(tom, { type: "send", ref: "1", text: "a".repeat(3000) + "!" });
  w.say(tom, { type: "search", ref: "s", pattern: "(unclosed" });
  await w.settle();
  assert.equal((tom.last() as { code: string }).code, "bad_pattern");
  const start = performance.now();
  w.say(tom, { type: "search", ref: "s2", pattern: "(a+)+$b" });
  await w.settle();
  assert.ok(performance.now() - start < 2000, "RE2: no catastrophic backtracking");
  assert.equal(tom.last().type, "results");
});

// ---- rate limit -------------------------------------------------------------------------------

Deno.test("rate limit: a burst passes, then rate_limited, then refilled with time", () => {
  const w = world({ maxRate: 1 });
  const tom = w.join("tom");
  for (let i = 0; i < 20; i++) w.say(tom, { type: "send", ref: `${i}`, text: "x" });
  assert.equal(tom.of("ack").length, 20, "burst of 20 at 1/s");
  w.say(tom, { type: "send", ref: "over", text: "x" });
  assert.equal((tom.last() as { code: string }).code, "rate_limited");
  assert.equal(w.store.latestSeq(), 20);
  w.clock.t += 1000;
  w.say(tom, { type: "send", ref: "later", text: "x" });
  assert.equal(tom.last().type, "ack");
});

Deno.test("rate limit: per user — logging in again does not refill the bucket", () => {
  // --max-rate is "messages per second per user": a new connection with the same token is the
  // same user, so it must not bring a fresh burst (else reconnecting lifts the limit).
  const w = world({ maxRate: 1 });
  const first = w.join("tom", {}, true);
  const { token } = welcomeOf(first);
  for (let i = 0; i < 20; i++) w.say(first, { type: "send", ref: `${i}`, text: "x" });
  w.say(first, { type: "send", ref: "over", text: "x" });
  assert.equal((first.last() as { code: string }).code, "rate_limited");
  const second = w.join("tom", { token });
  assert.equal(second.user!.id, "tom_0001");
  w.say(second, { type: "send", ref: "again", text: "x" });
  assert.equal(
    second.last().type,
    "error",
    "a reconnect at the same instant got a fresh burst: the limit is per connection",
  );
});

Deno.test("rate limit: a flood is cut after MAX_RATE_STRIKES refusals", () => {
  const w = world({ maxRate: 1 });
  const [tom, alice] = w.joinAll("tom", "alice");
  for (let i = 0; i < 20 + MAX_RATE_STRIKES; i++) {
    w.say(tom, { type: "send", ref: `${i}`, text: "x" });
  }
  assert.equal(tom.closed?.reason, "flood");
  // what it sent within its burst of 20 was acknowledged, stored and delivered, the rest refused
  // (the cut itself is not answered: the connection is closed instead)
  const burst = Array.from({ length: 20 }, (_, i) => `${i}`);
  assert.deepEqual(tom.of("ack").map((a) => a.ref), burst);
  assert.deepEqual(
    tom.of("error").map((e) => [e.ref, e.code]),
    Array.from({ length: MAX_RATE_STRIKES - 1 }, (_, i) => [`${20 + i}`, "rate_limited"]),
  );
  assert.equal(w.store.latestSeq(), 20);
  assert.deepEqual(alice.of("message").map((m) => m.id), tom.of("ack").map((a) => a.id));
});

// ---- resume and retries -----------------------------------------------------------------------

Deno.test("resume: replays messages and deletions since the last seen id, in order", () => {
  const { w, tom, token, alice } = tomAndAlice();
  w.say(alice, { type: "send", ref: "a1", text: "seen before the drop" });
  w.say(alice, { type: "send", ref: "a2", text: "will be deleted while away" });
  const [seen, doomed] = messages(tom);
  w.hub.disconnect(tom);
  w.say(alice, { type: "send", ref: "a3", text: "missed one" });
  w.say(alice, { type: "delete", ref: "a4", id: doomed.id });
  w.say(alice, { type: "send", ref: "a5", text: "missed two" });
  w.say(alice, { type: "delete", ref: "a6", id: seen.id });

  const back = w.join("tom", { token, resume: doomed.id }, true);
  const replay = back.frames.slice(1).map((f) =>
    f.type === "message" ? `message ${f.text}` : f.type === "deleted" ? `deleted ${f.id}` : f.type
  );
  assert.deepEqual(replay, [
    "message missed one",
    `deleted ${doomed.id}`,
    "message missed two",
    `deleted ${seen.id}`,
  ]);
});

Deno.test("resume: past REPLAY_LIMIT missed messages, the newest follow after a notice saying so", () => {
  const w = world();
  const tom = w.join("tom", {}, true);
  const token = welcomeOf(tom).token;
  const alice = w.join("alice", {}, true);
  const aliceId = welcomeOf(alice).you.id;
  w.say(alice, { type: "send", ref: "seen", text: "seen before the drop" });
  const [seen] = messages(tom);
  w.hub.disconnect(tom);
  // REPLAY_LIMIT + 2 missed, stored straight into the store (one transaction)
  const missed = Array.from({ length: REPLAY_LIMIT + 2 }, (_, i) => ({
    message: {
      id: ulid(T0 + 1 + i),
      from: aliceId,
      room: GENERAL_ROOM,
      text: `missed ${i}`,
      time: T0 + 1 + i,
    },
  }));
  w.store.insertMessages(missed);
  const back = w.join("tom", { token, resume: seen.id }, true);
  const [welcome, notice, ...rest] = back.frames;
  assert.equal(welcome.type, "welcome");
  assert.equal(notice.type, "error");
  assert.equal(notice.code, "backlog_truncated");
  assert.match(notice.message, new RegExp(`more than ${REPLAY_LIMIT} messages`));
  assert.equal(rest.length, REPLAY_LIMIT);
  assert.ok(rest.every((f) => f.type === "message"));
  // the newest, in order: the client's next resume point is the newest message
  assert.equal(rest[0].text, "missed 2");
  assert.equal(rest.at(-1)?.text, `missed ${REPLAY_LIMIT + 1}`);
});

Deno.test("resume: never replays others' DMs or deletions of them", () => {
  const { w, tom, token, alice } = tomAndAlice();
  w.say(alice, { type: "send", ref: "p", text: "public" });
  const [pub] = messages(tom);
  w.hub.disconnect(tom);
  w.say(alice, {
    type: "send",
    ref: "d",
    to: [welcomeOf(w.join("carl", {}, true)).you.id],
    text: "not for tom",
  });
  const dm = messages(alice).at(-1)!;
  w.say(alice, { type: "delete", ref: "x", id: dm.id });
  const back = w.join("tom", { token, resume: pub.id }, true);
  assert.deepEqual(back.frames.map((f) => f.type), ["welcome"]);
});

Deno.test("send: a retried ref is acknowledged with the first id and stored once", async () => {
  const w = world();
  const [tom, alice] = w.joinAll("tom", "alice");
  w.say(tom, { type: "send", ref: "same", text: "only once" });
  const first = tom.of("ack")[0];
  alice.clear();
  w.say(tom, { type: "send", ref: "same", text: "only once" });
  const second = tom.of("ack")[1];
  assert.equal(second.id, first.id);
  assert.deepEqual(alice.frames, [], "a retry is not fanned out again");
  w.say(alice, { type: "search", ref: "s", pattern: "only once" });
  await w.settle();
  assert.equal((alice.last() as { total: number }).total, 1);
  // refs are per user: the same ref from someone else is a new message
  w.say(alice, { type: "send", ref: "same", text: "alice's own" });
  assert.notEqual(alice.of("ack")[0].id, first.id);
});

/** A hub on `store` that leaves its group commits in `deferred`, for the end of the turn. */
function deferringHub(store: SqliteStore) {
  const deferred: (() => void)[] = [];
  const hub = new Hub({
    store,
    version: "test",
    maxRate: 0,
    defer: (fn) => void deferred.push(fn),
  });
  return { hub, deferred };
}

Deno.test("group commit: messages of one turn are stored in one transaction, then sent in order", () => {
  const store = new SqliteStore(":memory:");
  const calls = commitSizes(store);
  const { hub, deferred } = deferringHub(store);
  const tom = new FakePeer("tom");
  const alice = new FakePeer("alice");
  for (const peer of [tom, alice]) {
    hub.handle(peer, ClientFrame.parse({ type: "hello", name: peer.label }));
  }
  tom.clear();
  alice.clear();
  for (let i = 0; i < 5; i++) {
    hub.handle(tom, ClientFrame.parse({ type: "send", ref: `t${i}`, text: `tom ${i}` }));
    hub.handle(alice, ClientFrame.parse({ type: "send", ref: `a${i}`, text: `alice ${i}` }));
  }
  // a retry of a ref already in this turn's batch is not stored twice (the store sees to it)
  hub.handle(tom, ClientFrame.parse({ type: "send", ref: "t0", text: "tom 0" }));
  assert.deepEqual(tom.frames, [], "nothing is sent before the commit");
  assert.equal(deferred.length, 1, "one commit scheduled for the whole turn");
  deferred.shift()!();
  assert.deepEqual(calls, [11]);
  const texts = alice.of("message").map((m) => m.text);
  assert.deepEqual(texts, [0, 1, 2, 3, 4].flatMap((i) => [`tom ${i}`, `alice ${i}`]));
  const acks = tom.of("ack");
  assert.deepEqual(acks.map((a) => a.ref), ["t0", "t1", "t2", "t3", "t4", "t0"]);
  assert.equal(acks[5].id, acks[0].id, "the retry is acknowledged with the first id");
  // the ten public messages went to everyone as one shared buffer: one send, the same bytes
  assert.equal(alice.raw[0], tom.raw[0]);
  assert.equal(new FrameCutter().push(alice.raw[0]).length, 10, "all ten in the first send");
  assert.equal(alice.frames.slice(0, 10).every((f) => f.type === "message"), true);
});

Deno.test("search: limited per address too, so new ids do not buy new bursts", async () => {
  const w = world();
  let refused = 0;
  for (let i = 0; i < 6; i++) {
    const peer = Object.assign(new FakePeer(`s${i}`), { address: "10.9.9.9" });
    w.say(peer, { type: "hello", name: `s${i}` });
    for (let j = 0; j < 5; j++) w.say(peer, { type: "search", ref: `q${j}`, pattern: "x" });
    await w.settle();
    refused += peer.of("error").filter((e) => e.code === "rate_limited").length;
  }
  // 30 searches from one address with a burst of 15: the rest are refused
  assert.equal(refused, 15);
  const elsewhere = Object.assign(new FakePeer("other"), { address: "10.9.9.10" });
  w.say(elsewhere, { type: "hello", name: "other" });
  w.say(elsewhere, { type: "search", ref: "q", pattern: "x" });
  await w.settle();
  assert.equal(elsewhere.of("results").length, 1);
});

Deno.test("group commit: a DM between public runs keeps everyone's order; acks follow messages", () => {
  const store = new SqliteStore(":memory:");
  const { hub, deferred } = deferringHub(store);
  const [tom, alice, bob] = ["tom", "alice", "bob"].map((name) => new FakePeer(name));
  for (const peer of [tom, alice, bob]) {
    hub.handle(peer, ClientFrame.parse({ type: "hello", name: peer.label }));
  }
  for (const peer of [tom, alice, bob]) peer.clear();
  hub.handle(tom, ClientFrame.parse({ type: "send", ref: "1", text: "p1" }));
  hub.handle(tom, ClientFrame.parse({ type: "send", ref: "2", text: "dm", to: ["alice"] }));
  hub.handle(tom, ClientFrame.parse({ type: "send", ref: "3", text: "p2" }));
  deferred.shift()!();
  assert.deepEqual(alice.of("message").map((m) => m.text), ["p1", "dm", "p2"]);
  assert.deepEqual(bob.of("message").map((m) => m.text), ["p1", "p2"]);
  const seen = tom.frames.map((f) =>
    f.type === "message" ? f.text : f.type === "ack" ? `ack${f.ref}` : f.type
  );
  assert.deepEqual(seen, ["p1", "ack1", "dm", "ack2", "p2", "ack3"]);
});

Deno.test("send: a retry is acknowledged even when it would no longer pass (its @name left)", () => {
  const w = world();
  const [tom, bob] = w.joinAll("tom", "bob");
  w.say(tom, { type: "send", ref: "dm", to: ["bob"], text: "for bob" });
  const first = tom.of("ack")[0];
  w.hub.disconnect(bob);
  tom.clear();
  w.say(tom, { type: "send", ref: "dm", to: ["bob"], text: "for bob", retry: true });
  assert.deepEqual(tom.frames.map((f) => f.type), ["ack"]);
  assert.equal(tom.of("ack")[0].id, first.id);
  // without the flag the same repeat is still caught at commit, never stored twice
  w.say(tom, { type: "send", ref: "pub", text: "once" });
  w.say(tom, { type: "send", ref: "pub", text: "once" });
  const acks = tom.of("ack").filter((a) => a.ref === "pub");
  assert.equal(acks.length, 2);
  assert.equal(acks[0].id, acks[1].id);
  assert.equal(tom.of("message").filter((m) => m.text === "once").length, 1);
});

// ---- bounds with no other test ------------------------------------------------------------------

Deno.test("rate limit: a hub given no --max-rate limits sends at DEFAULT_MAX_RATE", () => {
  const w = world({ maxRate: "default" });
  const tom = w.join("tom");
  const burst = burstFor(DEFAULT_MAX_RATE);
  for (let i = 0; i < burst; i++) w.say(tom, { type: "send", ref: `r${i}`, text: `m${i}` });
  assert.equal(tom.of("ack").length, burst);
  assert.equal(tom.of("error").length, 0);
  w.say(tom, { type: "send", ref: "over", text: "one too many" });
  assert.deepEqual(tom.of("error").map((e) => [e.ref, e.code]), [["over", "rate_limited"]]);
  // a second later, DEFAULT_MAX_RATE more may go
  w.clock.t += 1000;
  for (let i = 0; i < DEFAULT_MAX_RATE; i++) {
    w.say(tom, { type: "send", ref: `later${i}`, text: "refilled" });
  }
  assert.equal(tom.of("ack").length, burst + DEFAULT_MAX_RATE);
});

Deno.test("who: the list stops at USERS_LIST_LIMIT; online counts everyone", () => {
  const w = world();
  const asker = w.join("asker");
  for (let i = 0; i < USERS_LIST_LIMIT + 5; i++) w.join(`u${i}`);
  asker.clear();
  w.say(asker, { type: "who", ref: "w" });
  const [users] = asker.of("users");
  assert.equal(users.users.length, USERS_LIST_LIMIT);
  assert.equal(users.online, USERS_LIST_LIMIT + 6);
  assert.equal(new Set(users.users.map((u) => u.id)).size, USERS_LIST_LIMIT, "no one twice");
});

Deno.test("search: at most MAX_SEARCH_RESULTS results, newest first, with the full total", async () => {
  const w = world();
  const tom = w.join("tom");
  const n = MAX_SEARCH_RESULTS + 7;
  for (let i = 0; i < n; i++) {
    w.clock.t += 1;
    w.say(tom, { type: "send", ref: `r${i}`, text: `needle ${i}` });
  }
  w.say(tom, { type: "send", ref: "other", text: "haystack" });
  tom.clear();
  w.say(tom, { type: "search", ref: "s", pattern: "needle" });
  await w.settle();
  const [results] = tom.of("results");
  assert.equal(results.total, n);
  assert.equal(results.messages.length, MAX_SEARCH_RESULTS);
  assert.equal(results.messages[0].text, `needle ${n - 1}`);
});

Deno.test("send: a store that fails costs those sends an error unavailable, and nothing is sent", () => {
  const store = new SqliteStore(":memory:");
  const w = world({ store });
  const [tom, alice] = w.joinAll("tom", "alice");
  const real = store.commit.bind(store);
  store.commit = (_writes: readonly Write[]): Written[] => {
    throw new Error("disk I/O error");
  };
  w.say(tom, { type: "send", ref: "lost", text: "this cannot be stored" });
  assert.deepEqual(tom.of("error").map((e) => [e.ref, e.code]), [["lost", "unavailable"]]);
  assert.equal(tom.of("ack").length, 0);
  assert.equal(alice.of("message").length, 0, "nothing unstored is fanned out");
  // and once the store works again, so does sending
  store.commit = real;
  w.say(tom, { type: "send", ref: "next", text: "stored now" });
  assert.equal(tom.of("ack").length, 1);
  assert.equal(alice.of("message")[0].text, "stored now");
});

Deno.test("send: refs are remembered for SENT_REF_TTL_MS, then forgotten", () => {
  const w = world();
  const tom = w.join("tom");
  w.say(tom, { type: "send", ref: "r", text: "first" });
  const first = tom.of("ack")[0].id;
  // within the window a retry is the same message
  w.clock.t += SENT_REF_TTL_MS - 60_000;
  w.hub.tick(w.clock.t);
  w.say(tom, { type: "send", ref: "r", text: "first", retry: true });
  assert.equal(tom.of("ack")[1].id, first);
  // past it (and a prune), the ref means a new message
  w.clock.t += 2 * 60_000 + 60_000;
  w.hub.tick(w.clock.t);
  w.say(tom, { type: "send", ref: "r", text: "second" });
  const third = tom.of("ack")[2].id;
  assert.notEqual(third, first);
});

// ---- issue 10: limits that identities cannot dodge, a store that fails ------------------------

Deno.test("who: 1,002 online with 24-character names: a list cut to fit one frame, never an error", () => {
  const w = world();
  const asker = w.join("asker");
  for (let i = 0; i < 1_001; i++) w.join(`n${String(i).padStart(23, "x")}`);
  asker.clear();
  w.say(asker, { type: "who", ref: "w".repeat(64) });
  const [users] = asker.of("users");
  assert.ok(users, `no users frame: ${JSON.stringify(asker.frames.slice(0, 1))}`);
  assert.equal(users.online, 1_002);
  assert.ok(users.users.length > 500 && users.users.length < 1_002, `${users.users.length}`);
  assert.ok(asker.raw[0].length <= 65_536 + 4, "under the frame cap");
});

Deno.test("hello: new ids per address are limited per hour; returning users and other addresses are not", () => {
  const w = world({ newIds: 3 });
  const from = (address: string, name: string, extra = {}) => {
    const peer = Object.assign(new FakePeer(name), { address });
    w.say(peer, { type: "hello", name, ...extra });
    return peer;
  };
  const first = from("10.0.0.1", "a");
  const { token } = welcomeOf(first);
  from("10.0.0.1", "b");
  from("10.0.0.1", "c");
  const fourth = from("10.0.0.1", "d");
  assert.equal(fourth.of("welcome").length, 0);
  assert.equal(fourth.of("error")[0].code, "rate_limited");
  assert.match(
    fourth.of("error")[0].message,
    /too many new ids from your address \(at most 3 an hour\)/,
  );
  assert.equal(fourth.closed?.reason, "too_many_ids");
  assert.equal(w.store.canonicalId("d_0004"), null, "nothing issued");
  // an IPv6 neighbour in the same /64 shares the allowance
  assert.equal(from("2001:db8::1", "e").of("welcome").length, 1);
  for (const n of ["f", "g"]) from("2001:db8::2", n);
  assert.equal(from("2001:db8::3", "h").closed?.reason, "too_many_ids");
  // the one with a token comes back; another address is not affected
  w.hub.disconnect(first);
  assert.equal(from("10.0.0.1", "a", { token }).of("welcome").length, 1);
  assert.equal(from("10.0.0.9", "z").of("welcome").length, 1);
  // an hour later there is room again (one id a 20 minutes: 3 an hour)
  w.clock.t += 20 * 60_000;
  assert.equal(from("10.0.0.1", "late").of("welcome").length, 1);
});

Deno.test("send: limited per address too, so new ids do not buy new bursts", () => {
  const w = world({ maxRate: 1 });
  // per address: 5 a second, a burst of max(20, 25) = 25
  const peers = Array.from(
    { length: 5 },
    (_, i) => Object.assign(w.join(`p${i}`), { address: "10.0.0.1" }),
  );
  let acked = 0;
  let limited = 0;
  for (const peer of peers) {
    for (let j = 0; j < 10; j++) w.say(peer, { type: "send", ref: `r${j}`, text: "x" });
    acked += peer.of("ack").length;
    limited += peer.of("error").filter((e) => e.code === "rate_limited").length;
  }
  assert.equal(acked, 25, "the address's burst, not 5 users' bursts of 20");
  assert.equal(limited, 25);
  assert.match(
    peers[4].of("error")[0].message,
    /at most 5 messages a second from one address/,
  );
  const elsewhere = Object.assign(w.join("q"), { address: "10.0.0.2" });
  w.say(elsewhere, { type: "send", ref: "r", text: "x" });
  assert.equal(elsewhere.of("ack").length, 1, "another address is not held back");
});

Deno.test("flood: a sender cut for flooding gets the acks of what was stored first", () => {
  // group commit is deferred, as in the server: the sends wait for the end of the turn, which
  // comes only after the cut
  const w = world({ maxRate: 1, deferCommit: true });
  const store = w.store;
  const flooder = w.join("flood");
  for (let i = 0; i < 20 + MAX_RATE_STRIKES; i++) {
    w.say(flooder, { type: "send", ref: `r${i}`, text: `m${i}` });
  }
  assert.equal(flooder.closed?.reason, "flood");
  const acks = flooder.of("ack");
  assert.equal(acks.length, 20, "every message within the burst is acknowledged");
  assert.equal(store.latestSeq(), 20);
  // stored and acknowledged before the cut, not by the commit at the end of the turn
  const beforeCut = flooder.frames.slice(0, flooder.framesBeforeClose);
  assert.equal(beforeCut.filter((f) => f.type === "ack").length, 20);
  w.deferred.splice(0).forEach((fn) => fn());
  assert.equal(store.latestSeq(), 20, "nothing left for the turn's commit");
});

Deno.test("store failure: an expiry that cannot be stored is retried later, not lost; the cause is logged once, the recovery too", () => {
  const lines: string[] = [];
  const store = new SqliteStore(":memory:");
  const w = world({ store, log: (line) => lines.push(line) });
  const tom = w.join("tom");
  w.say(tom, { type: "send", ref: "t", text: "soon gone", ttl: 1 });
  const commit = store.commit.bind(store);
  store.commit = () => {
    throw new Error("database or disk is full");
  };
  w.clock.t += 1_000;
  w.hub.tick();
  w.clock.t += EXPIRY_RETRY_MS - 1;
  w.hub.tick(); // not yet due again
  w.clock.t += 1;
  w.hub.tick(); // retried, fails again
  assert.equal(w.hub.messages.pendingExpiries, 1, "still scheduled");
  const failures = lines.filter((l) => /disk is full/.test(l));
  assert.equal(failures.length, 1, `logged once: ${lines.join("\n")}`);
  assert.match(
    failures[0],
    /ERROR the history database failed while expiring temporary messages; .* cause="database or disk is full"/,
  );
  assert.equal(tom.of("deleted").length, 0);
  store.commit = commit;
  w.hub.tick();
  assert.equal(tom.of("deleted").length, 0, "not before its retry time");
  w.clock.t += EXPIRY_RETRY_MS;
  w.hub.tick();
  assert.equal(tom.of("deleted").length, 1, "expired once the store works again");
  assert.equal(w.hub.messages.pendingExpiries, 0);
  assert.match(lines.join("\n"), /INFO {2}the history database works again refused=2 seconds=10/);
});

Deno.test("store failure: a user leaving while the disk is full leaves presence; nothing throws", () => {
  const store = new SqliteStore(":memory:");
  const w = world({ store });
  const [tom, alice] = w.joinAll("tom", "alice");
  store.setLastSeq = () => {
    throw new Error("database or disk is full");
  };
  w.hub.disconnect(tom);
  assert.equal(alice.of("presence").at(-1)?.left?.id, tom.user!.id);
  assert.deepEqual(w.hub.users().map((u) => u.id), [alice.user!.id]);
});

Deno.test("store failure: a newcomer is refused with error unavailable; a returning user still gets in", () => {
  const store = new SqliteStore(":memory:");
  const w = world({ store });
  const tom = w.join("tom", {}, true);
  const { token } = welcomeOf(tom);
  w.hub.disconnect(tom);
  const full = () => {
    throw new Error("database or disk is full");
  };
  store.createIdentity = full;
  store.rotateSession = full;
  const stranger = new FakePeer("eve");
  w.say(stranger, { type: "hello", name: "eve" });
  assert.equal(stranger.of("error")[0].code, "unavailable");
  assert.match(stranger.of("error")[0].message, /cannot issue new ids just now/);
  assert.equal(stranger.closed?.reason, "unavailable");
  const back = w.join("tom", { token }, true);
  assert.equal(back.user!.id, "tom_0001");
  assert.equal(welcomeOf(back).token, token, "the token could not rotate, so it stays good");
});

Deno.test("expiry: a mass expiry is spread over ticks, EXPIRIES_PER_TICK at a time", () => {
  const w = world();
  const tom = w.join("tom");
  for (let i = 0; i < EXPIRIES_PER_TICK + 10; i++) {
    w.say(tom, { type: "send", ref: `t${i}`, text: "x", ttl: 1 });
  }
  tom.clear();
  w.clock.t += 1_000;
  w.hub.tick();
  assert.equal(tom.of("deleted").length, EXPIRIES_PER_TICK);
  w.hub.tick();
  assert.equal(tom.of("deleted").length, EXPIRIES_PER_TICK + 10);
});

Deno.test("password: a server-wide ceiling on wrong guesses checked; returning users are exempt; every failure is logged", () => {
  const lines: string[] = [];
  const w = world({ password: "hunter2", log: (line) => lines.push(line) });
  const regular = w.join("tom", { password: "hunter2" }, true);
  const { token } = welcomeOf(regular);
  w.hub.disconnect(regular);
  // many addresses, one wrong guess each: the first PASSWORD_GUESS_BURST are checked
  const guess = (i: number, password = "guess") => {
    const peer = Object.assign(new FakePeer("g"), { address: `10.1.${i >> 8}.${i & 255}` });
    w.say(peer, { type: "hello", name: "eve", password });
    w.scheduled.splice(0).forEach(({ fn }) => fn());
    return peer;
  };
  for (let i = 0; i < PASSWORD_GUESS_BURST; i++) guess(i);
  assert.equal(lines.filter((l) => /WARN {2}wrong password address=10\.1\./.test(l)).length, 10);
  const over = guess(100);
  assert.match(over.of("error")[0].message, /too many wrong passwords on this server just now/);
  assert.equal(guess(101, "hunter2").of("welcome").length, 0, "unchecked, even the right one");
  assert.equal(lines.filter((l) => /newcomers are refused unchecked/.test(l)).length, 1);
  // the returning user is not locked out by strangers guessing
  const back = Object.assign(new FakePeer("tom"), { address: "10.9.9.9" });
  w.say(back, { type: "hello", name: "tom", password: "hunter2", token });
  assert.equal(back.of("welcome").length, 1);
  // at 30 a minute, two seconds later one more is checked
  w.clock.t += 2_000;
  const checked = guess(102, "hunter2");
  assert.equal(checked.of("welcome").length, 1);
});

Deno.test("search: the searcher's refusals reach the client as errors with its code; a failure is internal", async () => {
  const answers: (SearchOutcome | Error)[] = [
    { ok: false, code: "busy", message: "the server is busy with other searches" },
    { ok: false, code: "search_timeout", message: "that search took longer than 3 s" },
    new Error("worker died"),
  ];
  const lines: string[] = [];
  const searcher: Searcher = {
    search: () => {
      const answer = answers.shift()!;
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
    close() {},
  };
  const w = world({ searcher, log: (line) => lines.push(line) });
  const tom = w.join("tom");
  for (const ref of ["a", "b", "c"]) w.say(tom, { type: "search", ref, pattern: "x" });
  assert.equal(tom.frames.length, 0, "the answers come when the searcher is done");
  await w.settle();
  assert.deepEqual(tom.of("error").map((e) => [e.ref, e.code]), [
    ["a", "busy"],
    ["b", "search_timeout"],
    ["c", "internal"],
  ]);
  assert.match(lines.join("\n"), /ERROR a search failed cause="worker died"/);
});
