// Unit tests for src/server/away.ts and its wiring in the hub: `away` marks a user away (with a
// reason, on the hub's clock) or back; `who` (the server's and a room's) and the welcome say it;
// a direct message to someone away tells its sender once per away period (a reply in the
// conversation too, a public message never); senders remembered and users kept are bounded;
// an away outlives a dropped connection and is said again on the next hello; a refused frame and
// the rate limit change nothing.
//
// Run: deno test -A --lock=deno.dev.lock tests/away_test.ts

import assert from "node:assert/strict";
import { Hub } from "../src/server/hub.ts";
import { Away } from "../src/server/away.ts";
import {
  AWAY_CHANGE_BURST,
  AWAY_CHANGES_PER_MINUTE,
  MAX_AWAY_KEPT,
  MAX_AWAY_TOLD,
} from "../src/server/limits.ts";
import { ClientFrame, MAX_AWAY_LENGTH } from "../src/protocol/schema.ts";
import { SqliteStore } from "../src/server/store/sqlite.ts";
import { clientFrame, FakePeer, online, T0 } from "./fixtures.ts";

function world(maxRate = 0) {
  const clock = { t: T0 };
  let n = 0;
  const hub = new Hub({
    store: new SqliteStore(":memory:"),
    version: "test",
    defer: (fn) => fn(),
    maxRate,
    newIdsPerAddressPerHour: 0,
    now: () => clock.t,
    digits: () => String(++n % 10000).padStart(4, "0"),
  });
  const say = (peer: FakePeer, frame: Record<string, unknown>) =>
    hub.handle(peer, clientFrame(frame));
  const join = (name: string, extra: Record<string, unknown> = {}) => {
    const peer = new FakePeer(name, "10.0.0.1");
    say(peer, { type: "hello", name, ...extra });
    return peer;
  };
  return { hub, clock, say, join };
}

/** tom and ann online, tom away for lunch; ann's frames cleared. */
function tomAwayForLunch() {
  const w = world();
  const tom = w.join("tom");
  const ann = w.join("ann");
  w.say(tom, { type: "away", ref: "a1", reason: "lunch" });
  ann.clear();
  return { w, tom, ann };
}

Deno.test("away: set with a reason on the hub's clock, answered with the ref; back without one", () => {
  const w = world();
  const tom = w.join("tom");
  tom.clear();
  w.clock.t = T0 + 5;
  w.say(tom, { type: "away", ref: "a1", reason: "lunch" });
  assert.deepEqual(tom.frames, [
    { type: "away", ref: "a1", user: "tom_0001", reason: "lunch", since: T0 + 5 },
  ]);
  w.say(tom, { type: "away", ref: "a2" });
  assert.deepEqual(tom.last(), { type: "away", ref: "a2", user: "tom_0001" });
  assert.equal(w.hub.away.isAway("tom_0001"), false);
});

Deno.test("away: who (the server's and a room's) and a newcomer's welcome mark who is away", () => {
  const { w, tom, ann } = tomAwayForLunch();
  w.say(ann, { type: "who", ref: "w1" });
  w.say(ann, { type: "who", ref: "w2", room: "#general" });
  const [all, room] = ann.of("users");
  const marked = [{ id: "tom_0001", name: "tom", away: "lunch" }, ann.user!];
  assert.deepEqual(all.users, marked);
  assert.deepEqual(room.users, marked);
  const bob = w.join("bob");
  assert.deepEqual(bob.of("welcome")[0].users[0], marked[0]);
  // what others are sent of tom's presence is not about being away
  assert.equal(tom.user!.away, undefined);
});

Deno.test("away: a direct message tells its sender once per away period; a public one never; a reply in the conversation counts", () => {
  const w = world();
  const tom = w.join("tom");
  const ann = w.join("ann");
  const bob = w.join("bob");
  w.say(tom, { type: "away", ref: "a1", reason: "lunch" });
  for (const peer of [tom, ann, bob]) peer.clear();
  w.say(ann, { type: "send", ref: "s1", to: ["tom_0001"], text: "there?" });
  assert.deepEqual(ann.frames.map((f) => f.type), ["message", "ack", "away"]);
  assert.deepEqual(ann.of("away"), [
    { type: "away", user: "tom_0001", reason: "lunch", since: T0 },
  ]);
  const dm = ann.of("message")[0];
  w.say(ann, { type: "send", ref: "s2", to: ["tom"], text: "hello?" });
  w.say(ann, { type: "send", ref: "s3", replyTo: dm.id, text: "anyone?" });
  w.say(ann, { type: "send", ref: "s4", text: "tom_0001: lunch?" });
  assert.equal(ann.of("away").length, 1, "once");
  // bob is told too (in a DM to two, one of them away); tom writing to himself is not
  w.say(bob, { type: "send", ref: "s5", to: ["tom_0001", ann.user!.id], text: "hi both" });
  assert.deepEqual(bob.of("away").map((f) => f.user), ["tom_0001"]);
  w.say(tom, { type: "send", ref: "s6", to: ["tom_0001"], text: "note to self" });
  assert.equal(tom.of("away").length, 0);
  // a new away period: everyone may be told again
  w.say(tom, { type: "away", ref: "a2", reason: "meeting" });
  w.say(ann, { type: "send", ref: "s7", to: ["tom_0001"], text: "now?" });
  assert.deepEqual(ann.of("away").map((f) => f.reason), ["lunch", "meeting"]);
  // back: nobody is told
  w.say(tom, { type: "away", ref: "a3" });
  w.say(bob, { type: "send", ref: "s8", to: ["tom_0001"], text: "back?" });
  assert.equal(bob.of("away").length, 1);
});

Deno.test("away: a refused message tells nobody; a retried one is told at most once", () => {
  const { w, ann } = tomAwayForLunch();
  w.say(ann, { type: "send", ref: "s1", to: ["tom_0001", "nobody"], text: "x" });
  assert.deepEqual(ann.frames.map((f) => f.type), ["error"]);
  w.say(ann, { type: "send", ref: "s2", to: ["tom_0001"], text: "x" });
  w.say(ann, { type: "send", ref: "s2", to: ["tom_0001"], text: "x", retry: true });
  assert.equal(ann.of("away").length, 1);
});

Deno.test("away: outlives a dropped connection (said again on the next hello), not the away being cleared", () => {
  const w = world();
  const tom = w.join("tom");
  const token = tom.of("welcome")[0].token;
  w.say(tom, { type: "away", ref: "a1", reason: "commuting" });
  w.hub.disconnect(tom);
  const again = w.join("tom", { token });
  assert.deepEqual(again.frames.slice(0, 2).map((f) => f.type), ["welcome", "away"]);
  assert.deepEqual(again.of("away")[0], {
    type: "away",
    user: "tom_0001",
    reason: "commuting",
    since: T0,
  });
  // someone writing meanwhile is still told
  const ann = w.join("ann");
  ann.clear();
  w.say(ann, { type: "send", ref: "s1", to: ["tom_0001"], text: "x" });
  assert.equal(ann.of("away").length, 1);
});

Deno.test(`away: at most MAX_AWAY_TOLD (${MAX_AWAY_TOLD}) senders are remembered a period; past it, no more are told`, () => {
  const away = new Away();
  const tom = online({ id: "tom_0001", name: "tom" });
  away.set(tom, tom.user!, "r", "lunch", T0);
  const senders = Array.from({ length: MAX_AWAY_TOLD + 1 }, (_, i) => new FakePeer(`s${i}`));
  senders.forEach((peer, i) => away.answer(peer, `s${i}_0001`, ["tom_0001"]));
  senders.forEach((peer, i) => away.answer(peer, `s${i}_0001`, ["tom_0001"]));
  assert.deepEqual(
    senders.map((p) => p.of("away").length),
    [...Array(MAX_AWAY_TOLD).fill(1), 0],
  );
});

Deno.test(`away: at most MAX_AWAY_KEPT (${MAX_AWAY_KEPT}) users are kept away; the longest away goes first`, () => {
  const away = new Away();
  const peer = new FakePeer("x");
  for (let i = 0; i <= MAX_AWAY_KEPT; i++) {
    away.set(peer, { id: `u${i}_0001`, name: `u${i}` }, "r", "gone", T0 + i);
  }
  assert.equal(away.size, MAX_AWAY_KEPT);
  assert.equal(away.isAway("u0_0001"), false);
  assert.equal(away.isAway(`u${MAX_AWAY_KEPT}_0001`), true);
  // setting it again makes it the newest
  away.set(peer, { id: "u1_0001", name: "u1" }, "r", "again", T0);
  away.set(peer, { id: "new_0001", name: "new" }, "r", "gone", T0);
  assert.equal(away.isAway("u1_0001"), true);
  assert.equal(away.isAway("u2_0001"), false);
});

Deno.test("away: the schema refuses a reason too long, empty, on two lines or with controls", () => {
  const frame = (reason: string) => ClientFrame.safeParse({ type: "away", ref: "r", reason });
  assert.equal(frame("x".repeat(MAX_AWAY_LENGTH)).success, true);
  for (const bad of ["x".repeat(MAX_AWAY_LENGTH + 1), "", "a\nb", "a\u0000", "\u0085"]) {
    assert.equal(frame(bad).success, false, JSON.stringify(bad));
  }
});

Deno.test(`away: changes are rate limited (burst ${AWAY_CHANGE_BURST}, ${AWAY_CHANGES_PER_MINUTE} a minute); a refusal changes nothing`, () => {
  const w = world(10);
  const tom = w.join("tom");
  tom.clear();
  for (let i = 0; i < AWAY_CHANGE_BURST; i++) {
    w.say(tom, { type: "away", ref: `a${i}`, reason: `r${i}` });
  }
  w.say(tom, { type: "away", ref: "over", reason: "too fast" });
  const error = tom.last();
  assert.deepEqual(error.type === "error" && [error.ref, error.code], ["over", "rate_limited"]);
  assert.deepEqual(w.hub.away.mark([tom.user!])[0].away, `r${AWAY_CHANGE_BURST - 1}`);
  w.clock.t += 60_000 / AWAY_CHANGES_PER_MINUTE;
  w.say(tom, { type: "away", ref: "later" });
  assert.equal(tom.last().type, "away");
});
