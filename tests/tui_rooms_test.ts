// Unit tests for rooms in the full-screen UI: views (src/ui/tui/model.ts, views.ts), the room
// list (src/ui/tui/hotlist.ts), the read marker and day lines (src/ui/tui/screen.ts), dates
// (src/ui/time.ts) and a colour per person (src/ui/colors.ts). Pure: the time is a parameter.
//
// Run: deno test -A tests/tui_rooms_test.ts

import assert from "node:assert/strict";
import type { ClientEvent, Shown } from "../src/client/state.ts";
import type { RoomInfo } from "../src/protocol/schema.ts";
import { lineText, renderBubble, renderLine, textWidth } from "../src/ui/bubble.ts";
import { hash, NICK_ROLES, nickRole } from "../src/ui/colors.ts";
import { dayWords, sameDay, stamp } from "../src/ui/time.ts";
import { hotEntries, hotlistLine } from "../src/ui/tui/hotlist.ts";
import { decodeKeys } from "../src/ui/tui/keys.ts";
import {
  applyEvents,
  busiestView,
  closeView,
  initialModel,
  lookAt,
  MAX_CONVERSATIONS,
  type Model,
  stepView,
} from "../src/ui/tui/model.ts";
import { composeScreen, READ_MARKER } from "../src/ui/tui/screen.ts";
import { shownMaker } from "./fixtures.ts";
import { styleFor } from "../src/ui/tui/style.ts";
import {
  addressed,
  conversationKey,
  findView,
  userIdFor,
  type View,
  viewOf,
} from "../src/ui/tui/views.ts";

const ME = { id: "tom_1234", name: "tom" };
/** Noon, local time: a day either side is another day wherever the tests run. */
const NOW = new Date(2026, 11, 3, 12, 0, 0).getTime();
const DAY = 86_400_000;

const room = (name: string): RoomInfo => ({
  name,
  topic: "",
  private: false,
  members: 3,
  online: 2,
});
const welcome = (...rooms: string[]): ClientEvent => ({
  type: "welcome",
  you: ME,
  users: [ME],
  online: 3,
  rooms: rooms.map(room),
});

/** A message; ids grow with each one made (not with `time`: a page made later is older). */
const msg = shownMaker(NOW);
const ev = (message: Shown): ClientEvent => ({ type: "message", message });

/** Me, in #general, #builds and #ops. */
function inRooms(): Model {
  return applyEvents(initialModel(), [welcome("#general", "#builds", "#ops")]).model;
}
const apply = (model: Model, ...messages: Shown[]) => applyEvents(model, messages.map(ev)).model;
const view = (model: Model, key: string): View => model.views.find((v) => v.key === key)!;
const texts = (model: Model) =>
  model.items.flatMap((i) => (i.kind === "message" ? [i.message.text] : []));
const screen = (model: Model, cols = 80, rows = 24, now = NOW) =>
  composeScreen(model, { cols, rows, now, server: "h:1", online: 3 }).lines.map(lineText);
/** The room list's row: the one above the status line. */
const listRow = (model: Model, cols: number) => screen(model, cols).at(-3)!;

// ---- views -----------------------------------------------------------------------------------

Deno.test("views: a room each, #general first, in the welcome's order; a message goes to its room's view", () => {
  let model = applyEvents(initialModel(), [welcome("#ops", "#general", "#builds")]).model;
  assert.deepEqual(model.views.map((v) => v.key), ["#general", "#ops", "#builds"]);
  model = apply(
    model,
    msg({ room: "#builds", text: "build 1 passed" }),
    msg({ text: "hello" }),
  );
  assert.deepEqual(texts(model), ["hello"], "#general shows only its own");
  assert.deepEqual(texts(lookAt(model, "#builds")), ["build 1 passed"]);
});

Deno.test("views: a direct conversation is its own view, one per person; a live one shows where you are too", () => {
  let model = inRooms();
  model = apply(model, msg({ from: "bob_2222", to: [ME.id], text: "psst" }));
  model = apply(model, msg({ from: ME.id, to: ["bob_2222"], text: "yes?" }));
  assert.deepEqual(model.views.map((v) => v.key), ["#general", "#builds", "#ops", "@bob_2222"]);
  assert.deepEqual(texts(model), ["psst", "yes?"], "shown where I look");
  assert.deepEqual(texts(lookAt(model, "@bob_2222")), ["psst", "yes?"]);
  // a replayed one (history, a resume) goes only to its conversation
  model = apply(model, msg({ from: "cat_3333", to: [ME.id], text: "old", replay: true }));
  assert.deepEqual(texts(model), ["psst", "yes?"]);
  assert.deepEqual(texts(lookAt(model, "@cat_3333")), ["old"]);
  // a group's conversation: everyone but me, in one order
  assert.equal(
    viewOf(msg({ from: "bob_2222", to: [ME.id, "ann_0001"] }), ME),
    "@ann_0001,bob_2222",
  );
  assert.equal(conversationKey([ME.id], ME), `@${ME.id}`, "notes to myself");
});

Deno.test("views: counts of news and of news for me; looking at a view reads them", () => {
  let model = inRooms();
  model = apply(
    model,
    msg({ room: "#builds" }),
    msg({ room: "#builds" }),
    msg({ room: "#builds", from: ME.id }), // mine: not news
    msg({ room: "#ops", text: "@tom look at this" }),
    msg({ from: "bob_2222", to: [ME.id] }),
    msg({ text: "where I look: not news" }),
  );
  const counts = (key: string) => [view(model, key).unread, view(model, key).highlights];
  assert.deepEqual(counts("#builds"), [2, 0]);
  assert.deepEqual(counts("#ops"), [1, 1]);
  assert.deepEqual(counts("@bob_2222"), [1, 1]);
  assert.deepEqual(counts("#general"), [0, 0]);
  model = lookAt(model, "#builds");
  assert.deepEqual(counts("#builds"), [0, 0]);
  // replays count after a reconnect (what was missed), not on the first join (old news)
  const first = apply(inRooms(), msg({ room: "#ops", replay: true }));
  assert.equal(view(first, "#ops").unread, 0);
  const again = applyEvents(first, [welcome("#general", "#builds", "#ops")]).model;
  assert.equal(view(apply(again, msg({ room: "#ops", replay: true })), "#ops").unread, 1);
});

Deno.test("views: Ctrl+N/Ctrl+P order wraps around; Alt+A picks news for me, then the oldest news", () => {
  let model = inRooms();
  assert.equal(stepView(model, 1), "#builds");
  assert.equal(stepView(model, -1), "#ops");
  assert.equal(busiestView(model), undefined, "no news");
  model = apply(
    model,
    msg({ room: "#builds", time: NOW - 5000 }),
    msg({ room: "#ops", time: NOW }),
  );
  assert.equal(busiestView(model), "#builds", "the oldest news first");
  model = apply(model, msg({ room: "#ops", text: "tom?" }));
  assert.equal(busiestView(model), "#ops", "news for me first");
});

Deno.test("views: /join looks at the room; /part goes back to the view looked at before", () => {
  let model = inRooms();
  model = lookAt(model, "#ops");
  model = applyEvents(model, [
    { type: "room", event: "joined", room: room("#new"), here: "#new" },
  ]).model;
  assert.equal(model.view, "#new");
  assert.equal(model.views.at(-1)?.key, "#new", "at the end of the list");
  model = applyEvents(model, [
    { type: "room", event: "parted", room: room("#new"), here: "#general" },
  ]).model;
  assert.equal(model.view, "#ops", "back to the one before, not #general");
  assert.ok(!model.views.some((v) => v.key === "#new"));
  const said = model.items.flatMap((i) => (i.kind === "notice" ? [i.text] : []));
  assert.ok(said.includes("you left #new; what you type goes to #ops"), said.join("\n"));
  // a conversation closes the same way; the last view never does
  model = lookAt(apply(model, msg({ from: "bob_2222", to: [ME.id] })), "@bob_2222");
  model = closeView(model, "@bob_2222");
  assert.equal(model.view, "#ops");
  let one = initialModel();
  one = closeView(one, "#general");
  assert.equal(one.views.length, 1);
});

Deno.test("views: a room's joins and topic go to its view; a deletion takes a message from every view", () => {
  let model = inRooms();
  const dm = msg({ from: "bob_2222", to: [ME.id], text: "to be deleted" });
  model = apply(model, dm);
  model = applyEvents(model, [
    { type: "presence", room: "#ops", joined: { id: "ann_0001", name: "ann" }, online: 3 },
    { type: "room", event: "topic", room: { ...room("#ops"), topic: "pager" }, by: "ann_0001" },
    { type: "deleted", id: dm.id, reason: "deleted" },
  ]).model;
  assert.deepEqual(texts(model), []);
  assert.deepEqual(texts(lookAt(model, "@bob_2222")), []);
  const ops = lookAt(model, "#ops").items.flatMap((i) => (i.kind === "notice" ? [i.text] : []));
  assert.deepEqual(ops, [
    "ann_0001 joined #ops (3 online)",
    "ann_0001 set the topic of #ops: pager",
  ]);
});

Deno.test("views: conversations are bounded; the first quiet one goes, never the one looked at", () => {
  let model = apply(inRooms(), msg({ from: "first_0000", to: [ME.id] }));
  model = lookAt(model, "@first_0000");
  model = apply(model, msg({ from: "news_0000", to: [ME.id] }));
  for (let i = 1; i <= MAX_CONVERSATIONS; i++) {
    model = apply(model, msg({ from: `u${i}_0000`, to: [ME.id], replay: true }));
  }
  const keys = model.views.map((v) => v.key);
  assert.equal(keys.filter((k) => k.startsWith("@")).length, MAX_CONVERSATIONS + 1);
  assert.ok(keys.includes("@first_0000"), "looked at");
  assert.ok(keys.includes("@news_0000"), "has news");
  assert.ok(!keys.includes("@u1_0000"), "the first quiet one went");
  assert.deepEqual(keys.slice(0, 3), ["#general", "#builds", "#ops"], "rooms stay");
});

Deno.test("views: /window finds by number, room or person; a conversation's line goes to its people", () => {
  const model = apply(inRooms(), msg({ from: "bob_2222", to: [ME.id] }));
  assert.equal(findView(model.views, "2"), "#builds");
  assert.equal(findView(model.views, "ops"), "#ops");
  assert.equal(findView(model.views, "#OPS"), "#ops");
  assert.equal(findView(model.views, "@bob_2222"), "@bob_2222");
  assert.equal(findView(model.views, "9"), undefined);
  const bob = { id: "bob_2222", name: "bob" };
  assert.equal(userIdFor([bob], "bob"), "bob_2222");
  assert.equal(userIdFor([bob, { id: "bob_3333", name: "bob" }], "bob"), undefined, "which bob?");
  assert.equal(userIdFor([], "cat_0001"), "cat_0001", "an id, online or not");
  const group = "@ann_0001,bob_2222";
  assert.equal(addressed(group, "hi both"), "@ann_0001 @bob_2222 hi both");
  assert.equal(addressed(group, "/temp 1m brief"), "/temp 60s @ann_0001 @bob_2222 brief");
  assert.equal(addressed(group, "//slash"), "@ann_0001 @bob_2222 /slash");
  for (const line of ["/who", "@cat_0001 only cat", "/reply m1 yes"]) {
    assert.equal(addressed(group, line), line);
  }
  assert.equal(addressed("#builds", "hi"), "hi");
});

// ---- the room list -----------------------------------------------------------------------------

Deno.test("room list: numbered, the one looked at in brackets, counts, ! for news for me", () => {
  let model = inRooms();
  assert.equal(
    screen(initialModel()).filter((l) => l.includes("1:#general")).length,
    0,
    "one view: no list",
  );
  model = apply(
    model,
    msg({ room: "#builds" }),
    msg({ room: "#builds" }),
    msg({ room: "#builds" }),
    msg({ room: "#ops", text: "tom: the pager" }),
    msg({ from: "bob_2222", to: [ME.id] }),
    msg({ from: "bob_2222", to: [ME.id] }),
  );
  assert.equal(
    listRow(model, 160).trimEnd(),
    " [1:#general] 2:#builds(3) 3:#ops(1!) 4:@bob_2222(2!)",
  );
  model = lookAt(model, "#builds");
  assert.equal(listRow(model, 160).trimEnd(), " 1:#general [2:#builds] 3:#ops(1!) 4:@bob_2222(2!)");
  // the status line stays where it was, right above the input line
  assert.match(screen(model, 160).at(-2)!, /^ tom_1234 · h:1 · 3 online · connected/);
});

Deno.test("room list: too wide, the one looked at and the news first (for me, then the oldest), names cut, the quiet counted", () => {
  const views: View[] = [
    "#general",
    "#builds",
    "#a-very-long-room-name-indeed",
    "#ops",
    "#quiet-one",
    "#quiet-two",
    "@bob_2222",
  ].map((key) => ({ key, items: [], unseen: 0, unread: 0, highlights: 0, away: true }));
  const set = (key: string, unread: number, highlights: number, since: number) =>
    Object.assign(views.find((v) => v.key === key)!, { unread, highlights, since });
  set("#builds", 4, 0, 1);
  set("#a-very-long-room-name-indeed", 2, 0, 2);
  set("#ops", 1, 1, 3);
  set("@bob_2222", 2, 2, 4);
  const entries = hotEntries(views, "#general");
  const full = lineText(hotlistLine(entries, 160));
  assert.equal(
    full,
    " [1:#general] 2:#builds(4) 3:#a-very-long-room-name-indeed(2) 4:#ops(1!) 5:#quiet-one" +
      " 6:#quiet-two 7:@bob_2222(2!)",
  );
  const at60 = lineText(hotlistLine(entries, 60));
  assert.ok(textWidth(at60) <= 60, at60);
  assert.equal(at60, " [1:#general] 4:#ops(1!) 7:@bob_2222(2!) 2:#builds(4) +3");
  const at72 = lineText(hotlistLine(entries, 72));
  assert.equal(
    at72,
    " [1:#general] 4:#ops(1!) 7:@bob_2222(2!) 2:#builds(4) 3:#a-very-l…(2) +2",
  );
  for (const cols of [10, 20, 30, 40, 50]) {
    const line = lineText(hotlistLine(entries, cols));
    assert.ok(textWidth(line) <= cols, `${cols}: ${line}`);
    if (cols >= 20) assert.match(line, /\[1:#general\]/, `${cols}: ${line}`);
  }
  // the rows of a whole screen, at 60 and 160 columns, none wider
  let model = inRooms();
  for (const key of ["#one", "#two", "#three", "#four", "#five"]) {
    model = applyEvents(model, [{ type: "room", event: "joined", room: room(key) }]).model;
    model = apply(model, msg({ room: key }));
  }
  for (const cols of [60, 160]) {
    const lines = screen(model, cols);
    for (const line of lines) assert.ok(textWidth(line) <= cols, `${cols}: ${line}`);
    assert.match(lines.at(-3)!, /^ \[1:#general\] /);
  }
  assert.match(listRow(model, 60), /\+\d+ *$/);
});

// ---- the read marker ---------------------------------------------------------------------------

Deno.test("marker: above the first message that came while looking elsewhere; it moves when looking away again", () => {
  let model = lookAt(inRooms(), "#builds");
  model = apply(
    model,
    msg({ room: "#builds", text: "read 1" }),
    msg({ room: "#builds", text: "read 2" }),
  );
  model = lookAt(model, "#general");
  model = apply(
    model,
    msg({ room: "#builds", from: ME.id, text: "mine, from elsewhere" }),
    msg({ room: "#builds", text: "new 1" }),
    msg({ room: "#builds", text: "new 2" }),
  );
  model = lookAt(model, "#builds");
  /** The first text row under the marker. */
  const marker = (m: Model) => {
    const lines = screen(m, 80, 40);
    const at = lines.findIndex((l) => l.includes(`─ ${READ_MARKER} ─`));
    return at < 0 ? "" : lines.slice(at).find((l) => l.includes("│")) ?? "";
  };
  assert.match(marker(model), /│ new 1 │/, screen(model, 80, 40).join("\n"));
  // it stays while the view is looked at, and survives a redraw at another size
  model = apply(model, msg({ room: "#builds", text: "new 3" }));
  assert.match(marker(model), /│ new 1 │/);
  assert.ok(screen(model, 60, 30).some((l) => l.includes(`─ ${READ_MARKER} ─`)));
  // looked away and back with nothing new: no marker
  model = lookAt(lookAt(model, "#general"), "#builds");
  assert.ok(!screen(model, 80, 40).some((l) => l.includes(READ_MARKER)));
  // away again, something new: the marker moved down
  model = lookAt(model, "#general");
  model = apply(model, msg({ room: "#builds", text: "new 4" }));
  model = lookAt(model, "#builds");
  assert.match(marker(model), /│ new 4 │/);
  // deleted, the message under it gives its place to the next
  model = lookAt(model, "#general");
  const gone = msg({ room: "#builds", text: "gone" });
  model = apply(model, gone, msg({ room: "#builds", text: "after" }));
  model = applyEvents(model, [{ type: "deleted", id: gone.id, reason: "deleted" }]).model;
  assert.match(marker(lookAt(model, "#builds")), /│ after │/);
});

// ---- days --------------------------------------------------------------------------------------

Deno.test("days: a day line before each day's first message (across midnight), dates on times not from today", () => {
  const midnight = new Date(2026, 11, 3).getTime();
  let model: Model = { ...initialModel(), me: ME };
  model = apply(
    model,
    msg({ time: midnight - 2 * DAY + 1000, text: "two days ago" }),
    msg({ time: midnight - 60_000, text: "before midnight" }),
    msg({ time: midnight + 60_000, text: "after midnight" }),
    msg({ time: midnight + 120_000, text: "same day" }),
  );
  const lines = screen(model, 80, 40, NOW);
  const days = lines.filter((l) => /^─+ \w+day \d/.test(l)).map((l) => l.replace(/─/g, "").trim());
  assert.deepEqual(days, [
    "Tuesday 1 December 2026",
    "Wednesday 2 December 2026",
    "Thursday 3 December 2026",
  ]);
  const text = lines.join("\n");
  assert.match(text, /ann_0001 · Public · 1 Dec 00:00:01 · #m\d+/);
  assert.match(text, /ann_0001 · Public · 2 Dec 23:59:00 · #m\d+/);
  assert.match(text, /ann_0001 · Public · 00:01:00 · #m\d+/, "today: the time alone");
  // the next day, yesterday's messages get their date (the clock moved, nothing else)
  const tomorrow = screen(model, 80, 40, NOW + DAY).join("\n");
  assert.match(tomorrow, /ann_0001 · Public · 3 Dec 00:01:00/);
  // today's first message with nothing before it: no day line
  const fresh = screen(apply({ ...initialModel(), me: ME }, msg({ time: NOW })), 80, 20, NOW);
  assert.ok(!fresh.some((l) => l.includes("December")), fresh.join("\n"));
  // the lines layout too
  const one = renderLine(msg({ time: midnight - 60_000 }), { width: 80, now: NOW });
  assert.match(lineText(one[0]), /^2 Dec 23:59 #m\d+ <ann_0001> /);
});

Deno.test("time: stamps and day words, in local time; a year shows when it is not this one", () => {
  const t = new Date(2026, 11, 3, 9, 5, 7).getTime();
  assert.equal(stamp(t, t + 1000), "09:05:07");
  assert.equal(stamp(t, t + 1000, true), "09:05");
  assert.equal(stamp(t, t + DAY), "3 Dec 09:05:07");
  assert.equal(stamp(t, new Date(2027, 0, 1, 9).getTime(), true), "3 Dec 2026 09:05");
  assert.equal(dayWords(t), "Thursday 3 December 2026");
  assert.ok(
    sameDay(new Date(2026, 11, 3, 0, 0).getTime(), new Date(2026, 11, 3, 23, 59).getTime()),
  );
  assert.ok(
    !sameDay(new Date(2026, 11, 3, 23, 59).getTime(), new Date(2026, 11, 4, 0, 0).getTime()),
  );
});

// ---- colours -----------------------------------------------------------------------------------

Deno.test("colours: a person's colour comes from their id, the same every run; none without colour", () => {
  // FNV-1a's published value for "a": the hash is the standard one, not this run's
  assert.equal(hash("a"), 0xe40c292c);
  assert.equal(nickRole("alice_1234"), nickRole("alice_1234"));
  assert.equal(nickRole("Alice_1234"), nickRole("alice_1234"), "ids ignore case");
  const roles = new Set(
    Array.from({ length: 200 }, (_, i) => nickRole(`user${i}_${1000 + i}`)),
  );
  assert.equal(roles.size, NICK_ROLES.length, "every colour is used");
  for (const role of NICK_ROLES) {
    assert.ok(styleFor(role, true).color, role);
    assert.ok(!["yellow", "white", "black", "gray"].includes(styleFor(role, true).color!), role);
    assert.deepEqual(styleFor(role, false), { bold: true }, "NO_COLOR: bold only");
  }
  for (const role of ["hotCurrent", "hotActive", "hotHighlight"] as const) {
    assert.equal(styleFor(role, false).color, undefined);
    assert.equal(styleFor(role, false).backgroundColor, undefined);
  }
  // the sender's name is drawn in their role
  const meta = renderBubble(msg({ from: "bob_2222" }), { width: 60, now: NOW }).at(-1)!;
  assert.equal(meta.find((s) => s.text === "bob_2222")?.role, nickRole("bob_2222"));
});

// ---- keys --------------------------------------------------------------------------------------

Deno.test("keys: Alt+digit and Alt+A arrive as Esc and the key; Esc then other text stays text", () => {
  assert.deepEqual(decodeKeys("\x1b2").keys, [{ kind: "key", name: "alt+2", alt: true }]);
  assert.deepEqual(decodeKeys("\x1b0").keys, [{ kind: "key", name: "alt+0", alt: true }]);
  assert.deepEqual(decodeKeys("\x1ba").keys, [{ kind: "key", name: "alt+a", alt: true }]);
  assert.deepEqual(decodeKeys("\x1b/search").keys, [
    { kind: "key", name: "escape" },
    { kind: "text", text: "/search" },
  ]);
});

Deno.test("views: kicked or banned from a room, its view closes as a part does; others' kicks are said in the room's view", () => {
  let model = lookAt(inRooms(), "#ops");
  const kick = {
    type: "moderation" as const,
    action: "kicked" as const,
    room: "#ops",
    by: "ann_1111",
  };
  model = applyEvents(model, [{ ...kick, user: "bob_2222", reason: "spam" }]).model;
  assert.equal(model.view, "#ops");
  const inOps = model.items.flatMap((i) => (i.kind === "notice" ? [i.text] : []));
  assert.ok(inOps.includes("bob_2222 was kicked from #ops by ann_1111: spam"), inOps.join("\n"));
  model = applyEvents(model, [{ ...kick, user: ME.id, toMe: true, here: "#general" }]).model;
  assert.ok(!model.views.some((v) => v.key === "#ops"));
  const said = model.items.flatMap((i) => (i.kind === "notice" ? [i.text] : []));
  assert.ok(
    said.includes(`you were kicked from #ops by ann_1111; what you type goes to ${model.view}`),
    said.join("\n"),
  );
});

Deno.test("views: a removed room's view closes, with one line saying who removed it", () => {
  const model = applyEvents(lookAt(inRooms(), "#ops"), [
    { type: "moderation", action: "dropped", room: "#ops", by: "ann_1111", here: "#general" },
  ]).model;
  assert.ok(!model.views.some((v) => v.key === "#ops"));
  const said = model.items.flatMap((i) => (i.kind === "notice" ? [i.text] : []));
  const line = `#ops was removed by ann_1111; what you type goes to ${model.view}`;
  assert.ok(said.includes(line), said.join("\n"));
});
