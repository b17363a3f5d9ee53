// Unit tests for src/client/smart_filter.ts and src/client/view.ts: join, part and quit lines
// only for the room looked at; in a large room only those of people who spoke in the last ten
// minutes, the rest summed up once a minute; and what the view leaves out for someone ignored
// (and what --json keeps). The clock is injected: no timers.
//
// Run: deno test -A --lock=deno.dev.lock tests/smart_filter_test.ts

import assert from "node:assert/strict";
import {
  LARGE_ROOM,
  MAX_SPEAKERS,
  SmartFilter,
  SPOKE_WITHIN_MS,
  SUMMARY_EVERY_MS,
} from "../src/client/smart_filter.ts";
import { IgnoreList } from "../src/client/ignore.ts";
import type { ClientEvent, Shown } from "../src/client/state.ts";
import { View } from "../src/client/view.ts";
import { mid, T0 } from "./fixtures.ts";

function clock(start = T0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

const BIG = LARGE_ROOM + 1;
const join = (user: string, room?: string, online = BIG) => ({ user, joined: true, room, online });
const part = (user: string, room?: string, online = BIG) => ({ user, joined: false, room, online });

Deno.test("smart filter: a room other than the one looked at shows nothing, and counts nothing", () => {
  const c = clock();
  const smart = new SmartFilter(c.now);
  assert.equal(smart.show(join("ann_0001", "#builds", 3), "#general"), false);
  assert.equal(smart.show(join("ann_0001", "#builds", BIG), "#general"), false);
  c.advance(SUMMARY_EVERY_MS);
  assert.deepEqual(smart.summaries(), []);
});

Deno.test(`smart filter: up to LARGE_ROOM (${LARGE_ROOM}) online, every join, part and quit is shown`, () => {
  const smart = new SmartFilter(clock().now);
  assert.equal(smart.show(join("ann_0001", "#general", LARGE_ROOM), "#general"), true);
  assert.equal(smart.show(part("ann_0001", "#general", LARGE_ROOM), "#general"), true);
  // coming online and leaving the server (no room) are shown wherever one looks
  assert.equal(smart.show(join("ann_0001", undefined, 2), "#builds"), true);
  assert.equal(smart.show(part("ann_0001", undefined, LARGE_ROOM), "#builds"), true);
});

Deno.test("smart filter: in a large room, only those who spoke there in the last 10 minutes, to the millisecond", () => {
  const c = clock();
  const smart = new SmartFilter(c.now);
  smart.spoke("ann_0001", "#general", c.now());
  smart.spoke("bob_0001", "#builds", c.now()); // spoke, but elsewhere
  c.advance(SPOKE_WITHIN_MS);
  assert.equal(smart.show(part("ann_0001", "#general"), "#general"), true);
  assert.equal(smart.show(part("bob_0001", "#general"), "#general"), false);
  assert.equal(smart.show(part("cat_0001", "#general"), "#general"), false);
  c.advance(1);
  assert.equal(smart.show(join("ann_0001", "#general"), "#general"), false, "10 min and 1 ms");
  // the server's own joins and quits: whoever spoke anywhere (a direct message too)
  smart.spoke("dan_0001", undefined, c.now());
  assert.equal(smart.show(part("dan_0001"), "#general"), true);
  assert.equal(smart.show(part("eve_0001"), "#general"), false);
});

Deno.test("smart filter: a time from the future (a server's clock ahead) counts as now", () => {
  const c = clock();
  const smart = new SmartFilter(c.now);
  smart.spoke("ann_0001", "#general", c.now() + 3_600_000);
  c.advance(SPOKE_WITHIN_MS + 1);
  assert.equal(smart.show(part("ann_0001", "#general"), "#general"), false);
});

Deno.test("smart filter: what is hidden is said as one line per place, once a minute, then counted afresh", () => {
  const c = clock();
  const smart = new SmartFilter(c.now);
  for (const u of ["a_0001", "b_0001", "c_0001"]) smart.show(join(u, "#general"), "#general");
  for (const u of ["d_0001", "e_0001", "f_0001", "g_0001", "h_0001"]) {
    smart.show(part(u, "#general"), "#general");
  }
  smart.show(join("i_0001"), "#general");
  smart.show(part("j_0001"), "#general");
  c.advance(SUMMARY_EVERY_MS - 1);
  assert.deepEqual(smart.summaries(), [], "not yet a minute");
  c.advance(1);
  assert.deepEqual(smart.summaries(), [
    "3 joined, 5 left #general in the last minute",
    "1 came online, 1 left in the last minute",
  ]);
  assert.deepEqual(smart.summaries(), [], "said once");
  smart.show(part("k_0001", "#general"), "#general");
  c.advance(3 * SUMMARY_EVERY_MS);
  assert.deepEqual(smart.summaries(), ["1 left #general in the last 3 minutes"]);
});

Deno.test(`smart filter: speakers are forgotten after 10 minutes, and at most MAX_SPEAKERS (${MAX_SPEAKERS}) are kept`, () => {
  const c = clock();
  const smart = new SmartFilter(c.now);
  for (let i = 0; i <= MAX_SPEAKERS; i++) smart.spoke(`u${i}_0001`, undefined, c.now());
  // the first was pushed out by the one over the bound; the last is kept
  assert.equal(smart.show(part("u0_0001"), "#general"), false);
  assert.equal(smart.show(part(`u${MAX_SPEAKERS}_0001`), "#general"), true);
  c.advance(SPOKE_WITHIN_MS + 1);
  smart.summaries(); // prunes
  smart.spoke("late_0001", undefined, c.now());
  assert.equal(smart.show(part(`u${MAX_SPEAKERS}_0001`), "#general"), false);
  assert.equal(smart.show(part("late_0001"), "#general"), true);
});

// ---- the view: ignored people and the smart filter, as the UIs get them ----------------------

function message(from: string, text: string, fields: Partial<Shown> = {}): ClientEvent {
  return {
    type: "message",
    message: { type: "message", id: mid(1), ref: "0001", from, text, time: T0, ...fields },
  };
}

function view(everything = false, here = "#general") {
  const ignores = new IgnoreList(["Mal_0001"]);
  return new View({ ignores, here: () => here, now: clock().now, everything });
}

Deno.test("view: a person ignored (by id, ignoring case) is not shown: messages, mentions, joins, aways", () => {
  const events: ClientEvent[] = [
    message("mal_0001", "spam tom_0001"),
    message("ann_0001", "hello"),
    { type: "presence", joined: { id: "MAL_0001", name: "MAL" }, online: 3 },
    { type: "presence", room: "#general", left: { id: "mal_0001", name: "mal" }, online: 2 },
    { type: "away", user: "mal_0001", reason: "gone", mine: false },
    { type: "away", user: "tom_0001", reason: "lunch", mine: true },
  ];
  assert.deepEqual(view().filter(events), [events[1], events[5]]);
});

Deno.test("view: in --json everything passes; a message from someone ignored is marked", () => {
  const events: ClientEvent[] = [
    message("mal_0001", "spam"),
    { type: "presence", room: "#builds", joined: { id: "ann_0001", name: "ann" }, online: 2 },
  ];
  const [marked, presence] = view(true).filter(events);
  assert.equal(marked.type === "message" && marked.message.ignored, true);
  assert.equal(presence, events[1]);
});

Deno.test("view: joins of another room are left out, of this one kept; a large room's count passes", () => {
  const v = view(false, "#builds");
  const here = { type: "presence" as const, room: "#builds", online: 2 };
  const there = { type: "presence" as const, room: "#general", online: 2 };
  const ann = { id: "ann_0001", name: "ann" };
  const count = { type: "presence" as const, room: "#general", online: BIG };
  assert.deepEqual(v.filter([{ ...here, joined: ann }, { ...there, joined: ann }, count]), [
    { ...here, joined: ann },
    count,
  ]);
  assert.deepEqual(view(true).summaries(), []);
});
